package io.disaggmoe.model;

import static io.disaggmoe.model.testing.TensorAssert.argmax;
import static io.disaggmoe.model.testing.TensorAssert.assertClose;
import static io.disaggmoe.model.testing.TensorAssert.maxAbsDiff;
import static io.disaggmoe.model.testing.TensorAssert.row;
import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.model.cache.PagedLatentCache;
import io.disaggmoe.model.layer.AttentionMode;
import io.disaggmoe.model.testing.GoldenCase;
import io.disaggmoe.model.weights.Checkpoint;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every golden case, both attention paths: logits of the reference within 1e-4, same greedy ids.
 */
class GoldenLogitsTest {
  static final double TOLERANCE = 1e-4;

  static Stream<Arguments> casesAndModes() {
    return GoldenCase.all()
        .flatMap(
            c -> Stream.of(AttentionMode.ABSORB, AttentionMode.NAIVE).map(m -> Arguments.of(c, m)));
  }

  @ParameterizedTest(name = "{0} {1}")
  @MethodSource("casesAndModes")
  void prefillAndDecodeMatchReference(GoldenCase golden, AttentionMode mode) throws Exception {
    String suffix = mode == AttentionMode.ABSORB ? "" : "_naive";
    try (LocalModel model = LocalModel.load(golden.dir(), mode);
        Checkpoint expected = golden.expected();
        PagedLatentCache cache = model.newCache()) {
      int vocab = model.config().vocabSize();
      int[] prompt = golden.promptIds();
      int[] greedy = golden.greedyIds();
      int steps = greedy.length - 1;

      float[] prefill = model.forward(List.of(cache), List.of(prompt), true).get(0);
      float[] expectedPrefill =
          expected.readFloats("prefill_logits" + suffix, prompt.length, vocab);
      assertClose(
          golden + " " + mode + " prefill_logits", expectedPrefill, prefill, vocab, TOLERANCE);
      float[] last = row(prefill, prompt.length - 1, vocab);
      assertThat(argmax(last)).as("%s %s greedy_ids[0]", golden, mode).isEqualTo(greedy[0]);

      String decodeName =
          mode == AttentionMode.ABSORB ? "decode_logits_absorb" : "decode_logits_naive";
      float[] expectedDecode = expected.readFloats(decodeName, steps, vocab);
      double worst = maxAbsDiff(expectedPrefill, prefill);
      for (int j = 0; j < steps; j++) {
        float[] logits =
            model.forward(List.of(cache), List.of(new int[] {greedy[j]}), false).get(0);
        float[] want = row(expectedDecode, j, vocab);
        assertClose(golden + " " + mode + " decode step " + j, want, logits, vocab, TOLERANCE);
        assertThat(argmax(logits))
            .as("%s %s greedy_ids[%d]", golden, mode, j + 1)
            .isEqualTo(greedy[j + 1]);
        worst = Math.max(worst, maxAbsDiff(want, logits));
      }
      System.out.printf("golden %s %s: max abs diff %.3g%n", golden, mode, worst);
    }
  }
}
