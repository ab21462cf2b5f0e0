package io.disaggmoe.tests;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Cancellation as vLLM tests it: many streams with a huge max_tokens are abandoned by their clients
 * after half a second; a fresh request then completes within 5 s, and every stage goes back to
 * nothing running, nothing queued and nothing pinned.
 */
@ExtendWith(SharedSuite.class)
class CancellationTest {
  static final int STREAMS = 200;
  static RunningSuite suite;

  @BeforeAll
  static void start(RunningSuite shared) {
    suite = shared;
  }

  @Test
  void abandonedStreamsFreeEveryStage() throws Exception {
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    List<CompletableFuture<HttpResponse<InputStream>>> calls = new ArrayList<>();
    for (int i = 0; i < STREAMS; i++) {
      String body =
          "{\"model\": \"tiny\", \"stream\": true, \"max_tokens\": 4000, \"ignore_eos\": true,"
              + " \"messages\": [{\"role\": \"user\", \"content\": \"Request "
              + i
              + ", tell me everything.\"}]}";
      calls.add(
          http.sendAsync(
              HttpRequest.newBuilder(URI.create(suite.url() + "/v1/chat/completions"))
                  .header("Authorization", "Bearer " + SharedSuite.KEY)
                  .header("Content-Type", "application/json")
                  .POST(HttpRequest.BodyPublishers.ofString(body))
                  .build(),
              HttpResponse.BodyHandlers.ofInputStream()));
    }
    Thread.sleep(500);
    // The clients time out: a stream that started is closed, one still waiting is abandoned.
    for (var call : calls) {
      if (call.isDone() && !call.isCompletedExceptionally()) {
        call.get().body().close();
      } else {
        call.cancel(true);
      }
    }

    long start = System.nanoTime();
    HttpResponse<String> fresh =
        http.send(
            HttpRequest.newBuilder(URI.create(suite.url() + "/v1/completions"))
                .header("Authorization", "Bearer " + SharedSuite.KEY)
                .header("Content-Type", "application/json")
                .timeout(Duration.ofSeconds(30))
                .POST(
                    HttpRequest.BodyPublishers.ofString(
                        "{\"model\": \"tiny\", \"prompt\": \"fresh\", \"max_tokens\": 8}"))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    double seconds = (System.nanoTime() - start) / 1e9;
    assertThat(fresh.statusCode()).as(fresh.body()).isEqualTo(200);
    assertThat(seconds).as("seconds for a fresh request after the abandoned ones").isLessThan(5);

    assertThat(StageStates.awaitIdle(suite, http, 20))
        .as("every stage after the abandoned streams")
        .isEqualTo("idle");
  }
}
