package io.disaggmoe.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.model.gen.CheckpointGenerator;
import io.disaggmoe.model.gen.Preset;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;

/**
 * A decode instance whose link freezes mid-stream (connections open, no bytes) neither fails nor
 * answers: the gateway moves each stream on it to the other decode instance within seconds, once
 * the instance has failed its status polls and the stream has had nothing for a while, and the
 * client gets the undisturbed text. Without that, the stream waits about 15 s for the channel's
 * keep-alive to give up.
 */
class StalledDecodeTest {
  static final int STREAMS = 4;
  static final int TOKENS = 160;

  @TempDir Path dir;

  /** One greedy stream: its text, and the decode instances its last chunk names. */
  record Answer(String text, List<String> decodes, long endNanos) {}

  static Answer stream(String url, int i, AtomicIntegerArray chunks) throws Exception {
    Map<String, Object> body = new LinkedHashMap<>();
    body.put("model", "tiny");
    body.put("prompt", "Stream " + i + " of the frozen link tells");
    body.put("max_tokens", TOKENS);
    body.put("temperature", 0);
    body.put("ignore_eos", true);
    body.put("stream", true);
    body.put("nvext", Map.of("extra_fields", List.of("worker_id")));
    StringBuilder text = new StringBuilder();
    List<String> decodes = new ArrayList<>();
    String error =
        CompletionStream.completions(
            url,
            null,
            body,
            Duration.ofMinutes(2),
            (event, now) -> {
              for (JsonNode c : event.path("choices")) {
                text.append(c.path("text").asString());
                c.path("nvext")
                    .path("worker_id")
                    .path("decode_worker_ids")
                    .forEach(d -> decodes.add(d.asString()));
              }
              if (chunks != null) {
                chunks.incrementAndGet(i);
              }
            });
    assertThat(error).as("stream %d's error", i).isNull();
    return new Answer(text.toString(), decodes, System.nanoTime());
  }

  @Test
  void streamsOnAFrozenDecodeInstanceMoveToTheOtherInSeconds() throws Exception {
    Path model = dir.resolve("tiny");
    CheckpointGenerator.generate(Preset.TINY.config(), 0, Preset.TINY.shards(), model);
    try (LocalSuite suite =
        LocalSuite.start(LocalSuite.Options.of(model).stages(1, 2, 2).decodeLink(true).build())) {
      String url = suite.gatewayUrl();
      UpCommand.awaitHealthy(url, Duration.ofMinutes(2));
      List<String> expected = new ArrayList<>();
      for (int i = 0; i < STREAMS; i++) {
        expected.add(stream(url, i, null).text());
      }
      String frozen = "127.0.0.1:" + suite.decodeLink().port();

      AtomicIntegerArray chunks = new AtomicIntegerArray(STREAMS);
      List<CompletableFuture<Answer>> streams = new ArrayList<>();
      for (int i = 0; i < STREAMS; i++) {
        int s = i;
        streams.add(
            CompletableFuture.supplyAsync(
                () -> {
                  try {
                    return stream(url, s, chunks);
                  } catch (Exception e) {
                    throw new IllegalStateException(e);
                  }
                },
                Thread::startVirtualThread));
        // Decode routing reads each instance's free KV from its status, polled every 250 ms: a
        // stream started after the next poll sees the last one's pages taken, and goes to the
        // other instance.
        Thread.sleep(400);
      }
      long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(1);
      while (!allAtLeast(chunks, 4) && System.nanoTime() < deadline) {
        Thread.sleep(5);
      }
      long frozenAt = System.nanoTime();
      suite.decodeLink().freeze();
      int moved = 0;
      try {
        for (int i = 0; i < STREAMS; i++) {
          Answer a = streams.get(i).get(2, TimeUnit.MINUTES);
          assertThat(a.text()).as("stream %d's text", i).isEqualTo(expected.get(i));
          if (a.decodes().size() > 1) {
            assertThat(a.decodes())
                .as("stream %d moved off the frozen instance %s", i, frozen)
                .containsExactly(frozen, a.decodes().get(1))
                .doesNotHaveDuplicates();
            assertThat((a.endNanos() - frozenAt) / 1_000_000)
                .as("ms from the freeze to stream %d's end (keep-alive: about 15 000)", i)
                .isLessThan(10_000);
            moved++;
          }
        }
      } finally {
        suite.decodeLink().restore();
      }
      assertThat(moved).as("streams that were on the frozen instance").isPositive();
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
}
