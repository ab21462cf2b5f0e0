package io.disaggmoe.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.List;
import org.junit.jupiter.api.Test;

class DecodeBenchCommandTest {
  @Test
  void eachStepIsSetAgainstTheProbePassRunRightAfterIt() {
    // 1 MB of other weights and two 0.5 MB expert passes: 2 MB a step.
    DecodeBenchCommand.Bound bound = new DecodeBenchCommand.Bound(1_000_000, 500_000);
    List<DecodeBenchmark.TimedStep> steps =
        List.of(
            // 2 MB at 10 GB/s is 0.2 ms: 0.2 of a 1 ms step.
            new DecodeBenchmark.TimedStep(1_000_000, 2, 10e9),
            // The same bytes and bandwidth in 2 ms: 0.1.
            new DecodeBenchmark.TimedStep(2_000_000, 2, 10e9),
            // 1 ms while the probe read half as fast: 0.4 of what that bandwidth allowed.
            new DecodeBenchmark.TimedStep(1_000_000, 2, 5e9));
    assertThat(DecodeBenchCommand.medianStepFraction(steps, bound))
        .as("the median of 0.2, 0.1 and 0.4")
        .isCloseTo(0.2, within(1e-12));
    // An even count: the mean of the middle two.
    assertThat(DecodeBenchCommand.medianStepFraction(steps.subList(0, 2), bound))
        .isCloseTo(0.15, within(1e-12));
  }
}
