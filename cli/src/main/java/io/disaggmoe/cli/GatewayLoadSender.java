package io.disaggmoe.cli;

import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/** Streams a completion of token ids through the gateway, as a client of the OpenAI API does. */
final class GatewayLoadSender implements LoadSender {
  private final String url;
  private final String model;
  private final String apiKey;
  private final double temperature;

  GatewayLoadSender(String url, String model, String apiKey, double temperature) {
    this.url = url.replaceAll("/+$", "");
    this.model = model;
    this.apiKey = apiKey;
    this.temperature = temperature;
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
    long[][] chunks = {new long[outputTokens + 1]};
    int[] n = {0};
    int[] tokens = {0};
    long sent = System.nanoTime();
    try {
      String error =
          CompletionStream.completions(
              url,
              apiKey,
              body,
              Duration.ZERO,
              (event, now) -> {
                if (!event.path("choices").isEmpty()) {
                  if (n[0] == chunks[0].length) {
                    chunks[0] = Arrays.copyOf(chunks[0], 2 * n[0]);
                  }
                  chunks[0][n[0]++] = now;
                } else if (event.has("usage")) {
                  tokens[0] = event.get("usage").path("completion_tokens").asInt();
                }
              });
      if (error != null) {
        return RequestTiming.failed(sent, error);
      }
      return new RequestTiming(
          sent, Arrays.copyOf(chunks[0], n[0]), System.nanoTime(), tokens[0], null);
    } catch (Exception e) {
      return RequestTiming.failed(sent, e.toString());
    }
  }
}
