package io.disaggmoe.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.offset;
import static org.assertj.core.api.Assertions.within;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DetailedTimingsTest {
  @Test
  void requestsComeBackOnTheReadersClockWithTheirGaps(@TempDir Path dir) throws Exception {
    long t0 = System.nanoTime();
    RequestTiming ok =
        new RequestTiming(
            t0,
            new long[] {t0 + 40_000_000, t0 + 55_000_000, t0 + 90_000_000},
            t0 + 95_000_000,
            4,
            null);
    RequestTiming failed =
        new RequestTiming(
            t0 + 10_000_000, new long[0], t0 + 12_000_000, 0, "HTTP 503: no decode instance");
    Path file = dir.resolve("detailed.json");
    DetailedTimings.write(file, Map.of("completed", 1), List.of(ok, failed));

    List<RequestTiming> read = DetailedTimings.read(file);

    assertThat(read).hasSize(2);
    RequestTiming back = read.getFirst();
    // Unix seconds as doubles and two readings of the wall clock: within 50 us.
    assertThat(back.sentNanos()).as("sent").isCloseTo(t0, within(50_000L));
    assertThat(back.ttftMs()).as("TTFT ms").isCloseTo(40.0, offset(1e-3));
    assertThat(back.e2elMs()).as("E2EL ms").isCloseTo(95.0, offset(1e-3));
    assertThat(ServeStats.itls(List.of(back)))
        .as("ITLs ms")
        .containsExactly(new double[] {15.0, 35.0}, offset(1e-3));
    assertThat(back.outputTokens()).as("output tokens").isEqualTo(4);
    assertThat(read.get(1).ok()).as("the failed request stays failed").isFalse();
    assertThat(read.get(1).error()).isEqualTo("HTTP 503: no decode instance");
  }

  @Test
  void aFileWithoutRequestsNamesWhatIsMissing(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("summary-only.json");
    Files.writeString(file, "{\"completed\": 3}");
    assertThatThrownBy(() -> DetailedTimings.read(file))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("summary-only.json")
        .hasMessageContaining("start_times");
  }
}
