package io.disaggmoe.cli;

import static org.assertj.core.api.Assertions.assertThat;

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

/**
 * Which web pages' scripts may call the gateway (CORS), as {@code serve gateway --allowed-origins}
 * sets it, over real HTTP. The default (any origin, as vLLM's) is checked against the whole suite
 * in {@code HttpContractTest}. No stage runs: the routes below answer without one.
 */
class GatewayCorsTest {
  private static final HttpClient HTTP = HttpClient.newHttpClient();

  @TempDir Path model;

  @Test
  void onlyTheAllowedOriginsPagesMayCallAndNoneMeansNoCorsAtAll() throws Exception {
    Files.copy(
        GoldenCase.named("v3-tiny").dir().resolve("config.json"), model.resolve("config.json"));
    TokenizerFiles.copyDeepSeekV3(model);
    try (SpringServices.Running g = gateway("--allowed-origins", "https://*.example.com")) {
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

  private SpringServices.Running gateway(String... cors) throws Exception {
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
    args.addAll(List.of(cors));
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
