package io.disaggmoe.attention.core;

import static io.disaggmoe.model.testing.TensorAssert.assertClose;
import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.model.GreedyForward;
import io.disaggmoe.model.testing.GoldenCase;
import java.util.Arrays;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Every golden case through a prefill engine, kv-cache-service and a decode engine. */
class PrefillDecodeTest {
  static Stream<GoldenCase> cases() {
    return GoldenCase.all();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void logitsAndGreedyIdsEqualLocalModel(GoldenCase golden) throws Exception {
    try (SplitStack stack = new SplitStack(golden.dir(), 1 << 24, 4, 1 << 24, 5)) {
      int[] prompt = golden.promptIds();
      int steps = golden.greedyIds().length - 1;
      GreedyForward want = GreedyForward.run(stack.model, prompt, steps);
      int vocab = stack.model.config().vocabSize();

      SplitStack.Output got = stack.run("r1", "t", prompt, SplitStack.greedy(steps + 1));
      assertThat(got.prefill().computedTokens()).isEqualTo(prompt.length);
      assertClose(
          golden + " prefill logits (chunks of 5 tokens)",
          want.prefillLogits(),
          got.prefill().logits(),
          vocab,
          1e-5);
      for (int j = 0; j < steps; j++) {
        float[] expected = Arrays.copyOfRange(want.decodeLogits(), j * vocab, (j + 1) * vocab);
        assertClose(golden + " decode step " + j, expected, got.decodeLogits().get(j), vocab, 1e-5);
      }
      assertThat(Arrays.stream(got.ids()).asLongStream().toArray())
          .as("%s greedy ids", golden)
          .isEqualTo(want.greedyIds())
          .isEqualTo(Arrays.stream(golden.greedyIds()).asLongStream().toArray());
    }
  }
}
