package io.disaggmoe.gateway.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ApiKeysTest {
  @TempDir Path dir;

  ApiKeys load(String json) throws IOException {
    Path f = dir.resolve("keys.json");
    Files.writeString(f, json);
    return ApiKeys.load(f);
  }

  @Test
  void anOpenGatewayLetsEveryoneInAsTheDefaultTenant() {
    assertThat(ApiKeys.open().isOpen()).isTrue();
    assertThat(ApiKeys.open().authenticate(null)).isNull();
  }

  @Test
  void keysNameTheirTenantAndAWrongOrMissingKeyIs401() throws Exception {
    ApiKeys keys =
        load(
            "{\"keys\": [{\"key\": \"sk-a\", \"tenant\": \"acme\"},"
                + " {\"key\": \"sk-b\", \"tenant\": \"globex\"}]}");
    assertThat(keys.authenticate("Bearer sk-b").tenant()).isEqualTo("globex");
    assertThat(keys.authenticate("bearer sk-a").tenant()).isEqualTo("acme");
    for (String bad : new String[] {null, "sk-a", "Bearer sk-c", "Bearer sk-a2", "Basic sk-a"}) {
      assertThatThrownBy(() -> keys.authenticate(bad))
          .as("Authorization: %s", bad)
          .isInstanceOf(ApiException.class)
          .extracting(e -> ((ApiException) e).httpStatus())
          .isEqualTo(401);
    }
  }

  @Test
  void requestAndTokenRatesAre429AndASpentQuotaSaysDoNotRetry() throws Exception {
    ApiKeys.Key key =
        load("{\"keys\": [{\"key\": \"sk-a\", \"tenant\": \"acme\", \"requests_per_minute\": 2,"
                + " \"tokens_per_minute\": 100}]}")
            .authenticate("Bearer sk-a");
    key.admitRequest();
    key.admitRequest();
    assertThatThrownBy(key::admitRequest)
        .isInstanceOfSatisfying(
            ApiException.class,
            e -> {
              assertThat(e.httpStatus()).isEqualTo(429);
              assertThat(e.shouldRetry()).isTrue();
              assertThat(e.retryAfterSeconds()).isBetween(1L, 60L);
            });
    assertThatThrownBy(() -> key.admitTokens(101))
        .isInstanceOfSatisfying(
            ApiException.class,
            e -> {
              assertThat(e.httpStatus()).isEqualTo(429);
              assertThat(e.shouldRetry()).as("no minute will ever hold 101 tokens").isFalse();
            });
    key.admitTokens(60);
    assertThatThrownBy(() -> key.admitTokens(60))
        .isInstanceOfSatisfying(ApiException.class, e -> assertThat(e.shouldRetry()).isTrue());
  }

  @Test
  void aBrokenKeysFileNamesTheFile() {
    assertThatThrownBy(() -> load("{\"keys\": [{\"tenant\": \"x\"}]}"))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("keys.json")
        .hasMessageContaining("keys[0] has no \"key\"");
    assertThatThrownBy(() -> load("{nope"))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("keys.json is not valid JSON");
  }
}
