package io.disaggmoe.proto.telemetry;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class RecentLatencyTest {
  @Test
  void theP90IsOfTheLatestSamples() {
    RecentLatency l = new RecentLatency(10, Duration.ofMinutes(1));
    assertThat(l.p90Millis()).isZero();
    for (int ms = 1; ms <= 20; ms++) {
      l.record(ms * 1_000_000L);
    }
    // Kept: 11..20 ms; the 9th of 10 sorted.
    assertThat(l.p90Millis()).isEqualTo(19.0);
  }

  @Test
  void samplesOlderThanTheWindowNoLongerCount() throws InterruptedException {
    RecentLatency l = new RecentLatency(10, Duration.ofMillis(50));
    l.record(5_000_000L);
    assertThat(l.p90Millis()).isEqualTo(5.0);
    Thread.sleep(80);
    assertThat(l.p90Millis()).as("an idle stage").isZero();
  }
}
