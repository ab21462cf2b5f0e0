package io.disaggmoe.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.disaggmoe.model.testing.GoldenCase;
import io.disaggmoe.model.text.TokenizerFiles;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code serve gateway}'s own settings over real HTTP: which web pages' scripts may call it (CORS,
 * {@code --allowed-origins}; the default, any origin as vLLM's, is checked against the whole suite
 * in {@code HttpContractTest}) and the context it serves ({@code --max-model-len}). No stage runs:
 * the routes below answer without one.
 */
class GatewaySettingsTest {
  private static final HttpClient HTTP = HttpClient.newHttpClient();

  @TempDir Path model;

  @Test
  void onlyTheAllowedOriginsPagesMayCallTheContextIsCappedAndNoOriginMeansNoCors()
      throws Exception {
    Files.copy(
        GoldenCase.named("v3-tiny").dir().resolve("config.json"), model.resolve("config.json"));
    TokenizerFiles.copyDeepSeekV3(model);
    try (SpringServices.Running g =
        gateway("--allowed-origins", "https://*.example.com", "--max-model-len", "40")) {
      assertThat(
              JsonMapper.shared()
                  .readTree(models(g, "https://app.example.com").body())
                  .at("/data/0/max_model_len")
                  .asInt())
          .isEqualTo(40);
      HttpResponse<String> tooLong =
          HTTP.send(
              HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + g.port() + "/v1/completions"))
                  .header("Content-Type", "application/json")
                  .POST(
                      HttpRequest.BodyPublishers.ofString(
                          "{\"model\": \"tiny\", \"prompt\": \"" + "word ".repeat(50) + "\"}"))
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      assertThat(tooLong.statusCode()).isEqualTo(400);
      assertThat(tooLong.body()).contains("maximum context length is 40 tokens");
      HttpResponse<String> preflight = preflight(g, "https://app.example.com");
      assertThat(preflight.statusCode()).as(preflight.body()).isEqualTo(200);
      assertThat(preflight.headers().firstValue("Access-Control-Allow-Origin"))
          .hasValue("https://app.example.com");
      assertThat(preflight.headers().firstValue("Access-Control-Allow-Headers").orElseThrow())
          .containsIgnoringCase("authorization");
      assertThat(preflight(g, "https://evil.test").statusCode())
          .as("a page of another origin")
          .isEqualTo(403);
      HttpResponse<String> models = models(g, "https://app.example.com");
      assertThat(models.statusCode()).isEqualTo(200);
      assertThat(models.headers().firstValue("Access-Control-Allow-Origin"))
          .hasValue("https://app.example.com");
      assertThat(models.headers().firstValue("Access-Control-Allow-Credentials")).isEmpty();
    }
    try (SpringServices.Running g = gateway("--allowed-origins", "")) {
      HttpResponse<String> models = models(g, "https://app.example.com");
      assertThat(models.statusCode())
          .as("a client that sends an Origin is served when CORS is off")
          .isEqualTo(200);
      assertThat(models.headers().firstValue("Access-Control-Allow-Origin")).isEmpty();
      assertThat(preflight(g, "https://app.example.com").statusCode())
          .as("no preflight is answered")
          .isEqualTo(405);
    }
  }

  @Test
  void aMaxModelLenPastTheModelsContextIsRefusedAtStart() throws Exception {
    Files.copy(
        GoldenCase.named("v3-tiny").dir().resolve("config.json"), model.resolve("config.json"));
    TokenizerFiles.copyDeepSeekV3(model);
    assertThatThrownBy(() -> gateway("--max-model-len", "1000000").close())
        .hasStackTraceContaining("--max-model-len 1000000 is more than the model's context");
  }

  private SpringServices.Running gateway(String... settings) throws Exception {
    List<String> args =
        new ArrayList<>(
            List.of(
                "--model",
                model.toString(),
                "--served-model-name",
                "tiny",
                "--decode",
                "127.0.0.1:1",
                "--kv-cache",
                "127.0.0.1:1",
                "--port",
                "0",
                "--grpc-port",
                "0",
                "--host",
                "127.0.0.1"));
    args.addAll(List.of(settings));
    ServeGatewayCommand command = new ServeGatewayCommand();
    new picocli.CommandLine(command).parseArgs(args.toArray(String[]::new));
    return SpringServices.start(command.spec());
  }

  private static HttpResponse<String> preflight(SpringServices.Running g, String origin)
      throws Exception {
    return HTTP.send(
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + g.port() + "/v1/chat/completions"))
            .method("OPTIONS", HttpRequest.BodyPublishers.noBody())
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "authorization,content-type")
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  private static HttpResponse<String> models(SpringServices.Running g, String origin)
      throws Exception {
    return HTTP.send(
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + g.port() + "/v1/models"))
            .header("Origin", origin)
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }
}
