package io.disaggmoe.cli;

import java.io.IOException;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import okhttp3.Call;
import okhttp3.MediaType;
import okhttp3.OkHttpClient;
import okhttp3.Request;
import okhttp3.RequestBody;
import okhttp3.Response;
import okio.BufferedSource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * One streamed request to a gateway's OpenAI API, as the load tools send it: over OkHttp (the
 * official OpenAI SDK's transport), whose request goes out in one write and whose reply is read on
 * the calling thread, so a timed request crosses no hand-off between the client's own threads.
 */
final class CompletionStream {
  private static final JsonMapper JSON = JsonMapper.builder().build();
  private static final MediaType JSON_TYPE = MediaType.get("application/json");

  /**
   * A client for streams: no read timeout (a token may be long in coming), no retries of its own.
   */
  static final OkHttpClient CLIENT =
      new OkHttpClient.Builder()
          .connectTimeout(Duration.ofSeconds(10))
          .readTimeout(Duration.ZERO)
          .retryOnConnectionFailure(false)
          .build();

  /** Hears each {@code data:} event of the stream but the last, with when it was read. */
  interface Events {
    void accept(JsonNode event, long nanos);
  }

  private CompletionStream() {}

  /**
   * POSTs {@code body} to the gateway's {@code /v1/completions} at {@code url} and reads the event
   * stream to {@code data: [DONE]}. Returns null when it got there, or what failed: a status other
   * than 200, or an error event (the form a gateway gives a failure after the stream started). A
   * connection that fails, or a stream that ends before {@code [DONE]}, throws: the request is
   * worth sending again.
   *
   * @param apiKey sent as a bearer token; null: none
   * @param timeout the whole call at most; zero: no limit
   */
  static String completions(
      String url, String apiKey, Map<String, Object> body, Duration timeout, Events events)
      throws IOException {
    Request.Builder request =
        new Request.Builder()
            .url(url + "/v1/completions")
            .post(RequestBody.create(JSON.writeValueAsBytes(body), JSON_TYPE));
    if (apiKey != null) {
      request.header("Authorization", "Bearer " + apiKey);
    }
    Call call = CLIENT.newCall(request.build());
    call.timeout().timeout(timeout.toMillis(), TimeUnit.MILLISECONDS);
    try (Response r = call.execute()) {
      BufferedSource in = r.body().source();
      if (r.code() != 200) {
        return "HTTP " + r.code() + ": " + in.readUtf8Line();
      }
      for (String line; (line = in.readUtf8Line()) != null; ) {
        if (line.equals("data: [DONE]")) {
          return null;
        }
        if (!line.startsWith("data: ")) {
          continue;
        }
        long now = System.nanoTime();
        JsonNode event = JSON.readTree(line.substring(6));
        if (event.has("error")) {
          return event.get("error").path("message").asString();
        }
        events.accept(event, now);
      }
      throw new IOException("the stream ended before data: [DONE]");
    }
  }

  /** The first model the gateway at {@code url} lists. */
  static String firstModel(String url, String apiKey) {
    Request.Builder request = new Request.Builder().url(url.replaceAll("/+$", "") + "/v1/models");
    if (apiKey != null) {
      request.header("Authorization", "Bearer " + apiKey);
    }
    try (Response r = CLIENT.newCall(request.build()).execute()) {
      String body = r.body().string();
      if (r.code() != 200) {
        throw new IllegalStateException("GET /v1/models: " + r.code() + " " + body);
      }
      return JSON.readTree(body).get("data").get(0).get("id").asString();
    } catch (IOException e) {
      throw new IllegalStateException("cannot reach the gateway at " + url + ": " + e, e);
    }
  }
}
