package io.disaggmoe.tests;

import static org.assertj.core.api.Assertions.assertThat;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.JsonValue;
import com.openai.core.http.StreamResponse;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionChoice;
import com.openai.models.completions.CompletionCreateParams;
import io.disaggmoe.cli.BusiestInstance;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;

/**
 * DESIGN.md's "Faults": with 2 decode instances, the one serving several greedy streams is killed
 * (SIGKILL) mid-way; the gateway resumes each stream on the other from the blocks in
 * kv-cache-service plus the tokens already sent, and the client sees every token exactly once. Each
 * stream's {@code nvext.worker_id} shows, request by request, the move off the dead instance.
 */
class DecodeFailoverTest {
  static final int STREAMS = 4;
  static final int TOKENS = 96;

  @TempDir Path work;

  static CompletionCreateParams request(int i) {
    return Greedy.completion("Stream number " + i + " tells a long story about", TOKENS);
  }

  /** The same request, asking (as NVIDIA Dynamo's clients do) which instances served it. */
  static CompletionCreateParams askingWhoServed(int i) {
    return request(i).toBuilder()
        .putAdditionalBodyProperty(
            "nvext", JsonValue.from(Map.of("extra_fields", List.of("worker_id"))))
        .build();
  }

  @Test
  void everyStreamCompletesWithItsUndisturbedTextWhenItsDecodeInstanceDies() throws Exception {
    try (RunningSuite suite = RunningSuite.start(work, "--decode", "2");
        BusiestInstance busiest =
            BusiestInstance.of(
                suite.services("decode").stream().map(d -> d.get("address").asString()).toList())) {
      OpenAIClient client =
          OpenAIOkHttpClient.builder()
              .baseUrl(suite.url() + "/v1")
              .apiKey("none")
              .timeout(Duration.ofMinutes(2))
              .maxRetries(0)
              .build();
      long ready = System.nanoTime();
      List<CompletableFuture<Completion>> undisturbed = new ArrayList<>();
      for (int i = 0; i < STREAMS; i++) {
        CompletionCreateParams p = request(i);
        undisturbed.add(CompletableFuture.supplyAsync(() -> client.completions().create(p)));
      }
      List<String> expected = new ArrayList<>();
      for (var f : undisturbed) {
        expected.add(f.get(2, TimeUnit.MINUTES).choices().getFirst().text());
      }

      long referenced = System.nanoTime();
      AtomicIntegerArray chunks = new AtomicIntegerArray(STREAMS);
      List<Map<?, ?>> servedBy = new CopyOnWriteArrayList<>(new Map<?, ?>[STREAMS]);
      List<CompletableFuture<String>> streams = new ArrayList<>();
      for (int i = 0; i < STREAMS; i++) {
        int stream = i;
        streams.add(
            CompletableFuture.supplyAsync(
                () -> {
                  StringBuilder text = new StringBuilder();
                  try (StreamResponse<Completion> s =
                      client.completions().createStreaming(askingWhoServed(stream))) {
                    s.stream()
                        .forEach(
                            c -> {
                              for (CompletionChoice ch : c.choices()) {
                                text.append(ch.text());
                                JsonValue nvext = ch._additionalProperties().get("nvext");
                                if (nvext != null) {
                                  servedBy.set(
                                      stream,
                                      (Map<?, ?>) nvext.convert(Map.class).get("worker_id"));
                                }
                              }
                              chunks.incrementAndGet(stream);
                            });
                  }
                  return text.toString();
                }));
      }
      long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
      while (!allAtLeast(chunks, 6) && System.nanoTime() < deadline) {
        Thread.sleep(5);
      }
      JsonNode victim = busiestDecode(suite, busiest);
      ProcessHandle.of(victim.get("pid").asLong()).orElseThrow().destroyForcibly();
      long killed = System.nanoTime();
      int[] atKill = new int[STREAMS];
      for (int i = 0; i < STREAMS; i++) {
        atKill[i] = chunks.get(i);
      }

      String dead = victim.get("address").asString();
      int moved = 0;
      for (int i = 0; i < STREAMS; i++) {
        String got = streams.get(i).get(2, TimeUnit.MINUTES);
        assertThat(got)
            .as("stream %d (%d chunks before the kill)", i, atKill[i])
            .isEqualTo(expected.get(i));
        // Request by request: a stream the dead instance held went on at the other one.
        Map<?, ?> who = servedBy.get(i);
        assertThat(who).as("stream %d: nvext.worker_id on its last chunk", i).isNotNull();
        List<?> decodes = (List<?>) who.get("decode_worker_ids");
        assertThat(decodes).as("stream %d: %s", i, who).isNotEmpty();
        assertThat(who.get("decode_worker_id"))
            .as("stream %d: %s", i, who)
            .isEqualTo(decodes.getLast());
        if (decodes.getFirst().equals(dead) && !decodes.getLast().equals(dead)) {
          assertThat(decodes)
              .as("stream %d moved off the dead instance once: %s", i, who)
              .hasSize(2);
          moved++;
        } else {
          // On the live instance throughout, or on the dead one to its end before the kill.
          assertThat(decodes).as("stream %d did not move: %s", i, who).hasSize(1);
        }
      }
      System.out.printf(
          "undisturbed streams %d ms, kill %d ms after the streams began, every stream done %d ms"
              + " after it%n",
          (referenced - ready) / 1_000_000,
          (killed - referenced) / 1_000_000,
          (System.nanoTime() - killed) / 1_000_000);
      assertThat(moved)
          .as(
              "streams that the dead instance %s held, by their nvext: %s (chunks at the kill %s)",
              dead, servedBy, java.util.Arrays.toString(atKill))
          .isPositive();
      String metrics =
          HttpClient.newHttpClient()
              .send(
                  HttpRequest.newBuilder(URI.create(suite.url() + "/metrics")).build(),
                  HttpResponse.BodyHandlers.ofString())
              .body();
      assertThat(metrics)
          .as("the gateway counts the migrations")
          .containsPattern(
              "disaggmoe:request_migrations_total\\{[^}]*reason=\"decode_failed\"[^}]*} [1-9]");
    }
  }

  private static boolean allAtLeast(AtomicIntegerArray a, int n) {
    for (int i = 0; i < a.length(); i++) {
      if (a.get(i) < n) {
        return false;
      }
    }
    return true;
  }

  /** The decode instance running the most requests now. */
  private static JsonNode busiestDecode(RunningSuite suite, BusiestInstance busiest) {
    String address = busiest.now(null);
    assertThat(address).as("a decode instance running requests").isNotNull();
    return suite.services("decode").stream()
        .filter(d -> d.get("address").asString().equals(address))
        .findFirst()
        .orElseThrow();
  }
}
