package io.disaggmoe.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class ComputeThreadTest {
  @Test
  void workRunsOnTheComputeThreadNestedCallsRunInlineAndErrorsComeBackUnchanged() {
    try (ComputeThread compute = new ComputeThread("test-compute")) {
      String outer = compute.call(() -> Thread.currentThread().getName());
      assertThat(outer).isEqualTo("test-compute");
      String nested = compute.call(() -> compute.call(() -> Thread.currentThread().getName()));
      assertThat(nested).as("a call from the compute thread itself").isEqualTo("test-compute");
      IllegalArgumentException bad = new IllegalArgumentException("token 3 is outside");
      assertThatThrownBy(
              () ->
                  compute.run(
                      () -> {
                        throw bad;
                      }))
          .isSameAs(bad);
    }
    assertThat(ComputeThread.shared().call(() -> Thread.currentThread().getName()))
        .isEqualTo("disaggmoe-compute");
  }
}
