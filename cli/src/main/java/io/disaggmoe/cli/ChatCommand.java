package io.disaggmoe.cli;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code disaggmoe chat --url URL}: a small interactive client of the gateway. Each line typed is a
 * user turn; the answer streams back as it is generated and joins the conversation.
 */
@Command(
    name = "chat",
    mixinStandardHelpOptions = true,
    description = "Chat with a running gateway, streaming the answers.")
final class ChatCommand implements Callable<Integer> {
  private static final JsonMapper JSON = JsonMapper.builder().build();

  @Option(names = "--url", required = true, description = "the gateway, e.g. http://127.0.0.1:8080")
  String url;

  @Option(names = "--model", description = "model id (default: the first the gateway lists)")
  String model;

  @Option(names = "--api-key", description = "API key (default: $OPENAI_API_KEY, if set)")
  String apiKey = System.getenv("OPENAI_API_KEY");

  @Option(names = "--system", description = "system message")
  String system;

  @Option(names = "--max-tokens", defaultValue = "256", description = "per answer (default 256)")
  int maxTokens;

  @Option(names = "--temperature", defaultValue = "0.7", description = "(default 0.7)")
  double temperature;

  @Override
  public Integer call() throws Exception {
    PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    String base = url.replaceAll("/+$", "");
    if (model == null) {
      HttpResponse<String> models =
          http.send(
              request(base + "/v1/models").GET().build(), HttpResponse.BodyHandlers.ofString());
      if (models.statusCode() != 200) {
        throw new IllegalStateException(
            "GET /v1/models: " + models.statusCode() + " " + models.body());
      }
      model = JSON.readTree(models.body()).get("data").get(0).get("id").asString();
    }
    List<Map<String, String>> messages = new ArrayList<>();
    if (system != null) {
      messages.add(Map.of("role", "system", "content", system));
    }
    out.println("chatting with " + model + " at " + base + " (an empty line or Ctrl-D ends)");
    BufferedReader in =
        new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    while (true) {
      out.print("you: ");
      String line = in.readLine();
      if (line == null || line.isBlank()) {
        return 0;
      }
      messages.add(Map.of("role", "user", "content", line));
      Map<String, Object> body = new LinkedHashMap<>();
      body.put("model", model);
      body.put("messages", messages);
      body.put("stream", true);
      body.put("max_tokens", maxTokens);
      body.put("temperature", temperature);
      HttpResponse<java.util.stream.Stream<String>> r =
          http.send(
              request(base + "/v1/chat/completions")
                  .header("Content-Type", "application/json")
                  .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body)))
                  .build(),
              HttpResponse.BodyHandlers.ofLines());
      if (r.statusCode() != 200) {
        out.println("error " + r.statusCode() + ": " + String.join("", r.body().toList()));
        messages.removeLast();
        continue;
      }
      out.print("assistant: ");
      StringBuilder answer = new StringBuilder();
      r.body()
          .filter(l -> l.startsWith("data: ") && !l.equals("data: [DONE]"))
          .map(l -> JSON.readTree(l.substring(6)))
          .forEach(
              chunk -> {
                JsonNode error = chunk.get("error");
                if (error != null) {
                  out.print("\n[error: " + error.path("message").asString() + "]");
                  return;
                }
                for (JsonNode c : chunk.path("choices")) {
                  String delta = c.path("delta").path("content").asString("");
                  answer.append(delta);
                  out.print(delta);
                }
              });
      out.println();
      messages.add(Map.of("role", "assistant", "content", answer.toString()));
    }
  }

  private HttpRequest.Builder request(String uri) {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(uri));
    if (apiKey != null && !apiKey.isBlank()) {
      b.header("Authorization", "Bearer " + apiKey);
    }
    return b;
  }
}
