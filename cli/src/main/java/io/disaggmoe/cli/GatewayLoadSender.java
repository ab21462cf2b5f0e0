package io.disaggmoe.cli;

import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** Streams a completion of token ids through the gateway, as a client of the OpenAI API does. */
final class GatewayLoadSender implements LoadSender {
  private static final JsonMapper JSON = JsonMapper.builder().build();

  private final HttpClient http = http1Client();
  private final String url;
  private final String model;
  private final String apiKey;
  private final double temperature;

  /** The client the load tools stream with: HTTP/1.1, as SSE clients of the OpenAI API use. */
  static HttpClient http1Client() {
    return HttpClient.newBuilder()
        .version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(10))
        .build();
  }

  GatewayLoadSender(String url, String model, String apiKey, double temperature) {
    this.url = url.replaceAll("/+$", "");
    this.model = model;
    this.apiKey = apiKey;
    this.temperature = temperature;
  }

  /** The first model the gateway lists. */
  static String firstModel(String url, String apiKey) throws Exception {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(URI.create(url.replaceAll("/+$", "") + "/v1/models"));
    if (apiKey != null) {
      b.header("Authorization", "Bearer " + apiKey);
    }
    HttpResponse<String> r;
    try {
      r = HttpClient.newHttpClient().send(b.build(), HttpResponse.BodyHandlers.ofString());
    } catch (java.io.IOException e) {
      throw new IllegalStateException("cannot reach the gateway at " + url + ": " + e, e);
    }
    if (r.statusCode() != 200) {
      throw new IllegalStateException("GET /v1/models: " + r.statusCode() + " " + r.body());
    }
    return JSON.readTree(r.body()).get("data").get(0).get("id").asString();
  }

  @Override
  public RequestTiming send(int[] promptIds, int outputTokens) {
    Map<String, Object> body = new LinkedHashMap<>();
    body.put("model", model);
    body.put("prompt", promptIds);
    body.put("max_tokens", outputTokens);
    // Stated, not left to the server's default (OpenAI's is 1), so both paths sample alike.
    body.put("temperature", temperature);
    body.put("ignore_eos", true);
    body.put("stream", true);
    body.put("stream_options", Map.of("include_usage", true));
    HttpRequest.Builder b =
        HttpRequest.newBuilder(URI.create(url + "/v1/completions"))
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body)));
    if (apiKey != null) {
      b.header("Authorization", "Bearer " + apiKey);
    }
    long sent = System.nanoTime();
    try {
      HttpResponse<InputStream> r = http.send(b.build(), HttpResponse.BodyHandlers.ofInputStream());
      try (BufferedReader in =
          new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
        if (r.statusCode() != 200) {
          return RequestTiming.failed(sent, "HTTP " + r.statusCode() + ": " + in.readLine());
        }
        long[] chunks = new long[outputTokens + 1];
        int n = 0;
        int tokens = 0;
        for (String line; (line = in.readLine()) != null; ) {
          if (!line.startsWith("data: ") || line.equals("data: [DONE]")) {
            continue;
          }
          long now = System.nanoTime();
          JsonNode chunk = JSON.readTree(line.substring(6));
          if (chunk.has("error")) {
            return RequestTiming.failed(sent, chunk.get("error").path("message").asString());
          }
          if (!chunk.path("choices").isEmpty()) {
            if (n == chunks.length) {
              chunks = Arrays.copyOf(chunks, 2 * n);
            }
            chunks[n++] = now;
          } else if (chunk.has("usage")) {
            tokens = chunk.get("usage").path("completion_tokens").asInt();
          }
        }
        return new RequestTiming(sent, Arrays.copyOf(chunks, n), System.nanoTime(), tokens, null);
      }
    } catch (Exception e) {
      return RequestTiming.failed(sent, e.toString());
    }
  }
}
