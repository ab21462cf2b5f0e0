package io.disaggmoe.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class PairedTtftDifferenceTest {
  private static RequestTiming firstTokenAfter(double ms) {
    long sent = 1_000_000_000L;
    long first = sent + (long) (ms * 1e6);
    return new RequestTiming(sent, new long[] {first}, first + 5_000_000, 1, null);
  }

  private static ServeLoad.Result result(RequestTiming... timings) {
    return new ServeLoad.Result(List.of(timings), 0, 1);
  }

  @Test
  void requestsArePairedByIndexAndAPairWithAFailureIsLeftOut() {
    ServeLoad.Result gateway =
        result(firstTokenAfter(12), firstTokenAfter(30), firstTokenAfter(14), firstTokenAfter(50));
    ServeLoad.Result direct =
        result(
            firstTokenAfter(10),
            firstTokenAfter(20),
            RequestTiming.failed(0, "refused"),
            firstTokenAfter(47));

    // Pairs 0, 1 and 3: 2, 10 and 3 ms apart.
    assertThat(ServeBenchCommand.pairedTtftDifference(gateway, direct)).isEqualTo(3.0);
  }

  @Test
  void theSlowSpellOfOnePairDoesNotMoveTheEstimate() {
    // The gateway adds 1 ms to every request; one pair ran while the machine was slow.
    ServeLoad.Result gateway =
        result(firstTokenAfter(11), firstTokenAfter(91), firstTokenAfter(11));
    ServeLoad.Result direct = result(firstTokenAfter(10), firstTokenAfter(90), firstTokenAfter(10));

    assertThat(ServeBenchCommand.pairedTtftDifference(gateway, direct))
        .isEqualTo(1.0, org.assertj.core.data.Offset.offset(1e-9));
  }
}
