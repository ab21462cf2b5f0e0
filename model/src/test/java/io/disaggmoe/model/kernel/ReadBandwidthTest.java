package io.disaggmoe.model.kernel;

import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.model.ComputeThread;
import org.junit.jupiter.api.Test;

class ReadBandwidthTest {
  @Test
  void aKeptProbeReadsItsBufferAgainOnEveryPass() {
    ReadBandwidth probe = ReadBandwidth.open(ComputeThread.shared(), 4 << 20);
    for (int pass = 0; pass < 3; pass++) {
      assertThat(probe.pass()).as("bytes per second of pass %d", pass).isPositive().isFinite();
    }
    assertThat(probe.best(5)).isPositive().isFinite();
  }
}
