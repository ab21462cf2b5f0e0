package io.disaggmoe.tests;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code disaggmoe bench serve} against the running suite as a user runs it: its JSON under vLLM's
 * names, and with {@code --save-detailed} every request's start (Unix time), TTFT, chunk gaps,
 * end-to-end latency and output length.
 */
@ExtendWith(SharedSuite.class)
class BenchServeTest {
  static final int REQUESTS = 4;
  static final int OUTPUT_LEN = 5;

  @Test
  void reportsVllmFiguresAndEveryRequestInDetail(RunningSuite suite, @TempDir Path dir)
      throws Exception {
    Path detailed = dir.resolve("detailed.json");
    double before = System.currentTimeMillis() / 1e3;
    Process p =
        RunningSuite.disaggmoeProcess(
            "bench",
            "serve",
            "--url",
            suite.url(),
            "--api-key",
            SharedSuite.KEY,
            "--rate",
            "20",
            "--requests",
            String.valueOf(REQUESTS),
            "--input-len",
            "16",
            "--output-len",
            String.valueOf(OUTPUT_LEN),
            "--json",
            "--save-detailed",
            detailed.toString());
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(3, TimeUnit.MINUTES)).isTrue();
    double after = System.currentTimeMillis() / 1e3;
    assertThat(p.exitValue()).as("bench serve's exit status; it printed:%n%s", out).isZero();
    JsonNode result = new ObjectMapper().readTree(out.substring(out.indexOf('{')));
    assertThat(result.get("completed").asInt()).as("completed").isEqualTo(REQUESTS);
    assertThat(result.get("failed").asInt()).as("failed").isZero();
    assertThat(result.get("total_output_tokens").asInt())
        .as("total_output_tokens (ignore_eos)")
        .isEqualTo(REQUESTS * OUTPUT_LEN);
    for (String key : new String[] {"median_ttft_ms", "median_tpot_ms", "p99_itl_ms"}) {
      assertThat(result.get(key).asDouble()).as(key).isPositive();
    }

    JsonNode saved = new ObjectMapper().readTree(Files.readString(detailed));
    assertThat(saved.get("completed").asInt()).as("the summary in the detailed file").isEqualTo(4);
    for (String list : new String[] {"start_times", "ttfts", "itls", "e2els", "output_lens"}) {
      assertThat(saved.get(list).size()).as("%s entries", list).isEqualTo(REQUESTS);
    }
    for (int r = 0; r < REQUESTS; r++) {
      double start = saved.get("start_times").get(r).asDouble();
      assertThat(start).as("request %d's start (Unix seconds)", r).isBetween(before, after);
      double ttft = saved.get("ttfts").get(r).asDouble();
      double e2el = saved.get("e2els").get(r).asDouble();
      assertThat(ttft).as("request %d's TTFT (s)", r).isPositive().isLessThanOrEqualTo(e2el);
      double gaps = 0;
      for (JsonNode gap : saved.get("itls").get(r)) {
        gaps += gap.asDouble();
      }
      assertThat(ttft + gaps)
          .as("request %d: TTFT plus its chunk gaps is when its last chunk came", r)
          .isLessThanOrEqualTo(e2el + 1e-6);
      assertThat(saved.get("output_lens").get(r).asInt())
          .as("request %d's output tokens", r)
          .isEqualTo(OUTPUT_LEN);
      assertThat(saved.get("errors").get(r).asText()).as("request %d's error", r).isEmpty();
    }
  }
}
