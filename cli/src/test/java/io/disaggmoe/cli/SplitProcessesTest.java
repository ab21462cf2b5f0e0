package io.disaggmoe.cli;

import io.disaggmoe.model.testing.GoldenCase;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@code forward --split}: prefill and decode attention-service processes, a kv-cache-service
 * process between them and two expert-service processes, all over real gRPC on loopback.
 */
class SplitProcessesTest {
  @TempDir Path tmp;

  static Stream<GoldenCase> cases() {
    return GoldenCase.all();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void forwardSplitWithTwoExpertPoolsEqualsTheLocalModel(GoldenCase golden) throws Exception {
    // 4-token blocks: the prompt's cache crosses as full blocks and a tail.
    ForwardOutput.assertEqualsLocalModel(
        golden,
        tmp,
        "--split with 2 pools",
        "--split",
        "--expert-pools",
        "2",
        "--kv-block-tokens",
        "4");
  }
}
