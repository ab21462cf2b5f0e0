package io.disaggmoe.model;

import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.model.cache.PagedLatentCache;
import io.disaggmoe.model.layer.AttentionMode;
import io.disaggmoe.model.testing.GoldenCase;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Passes on float arrays (no torch call) give the same logits, bit for bit, as the same passes
 * through NDArrays: the rewrite keeps every operation and its order. Three prompts and then their
 * decode steps, three sequences at once, so that rows are batched too, and with micro-batch
 * overlap.
 */
class FloatDecodeTest {
  private static final int STEPS = 6;

  static Stream<GoldenCase> cases() {
    return GoldenCase.all();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void floatStepsEqualNdArraySteps(GoldenCase golden) throws Exception {
    try (LocalModel model = LocalModel.load(golden.dir(), AttentionMode.ABSORB)) {
      for (boolean overlap : new boolean[] {false, true}) {
        model.setMicroBatchOverlap(overlap);
        model.setFloatPasses(false);
        List<float[]> viaNdArrays = decode(model, golden.promptIds());
        model.setFloatPasses(true);
        long before = model.floatPassCount();
        List<float[]> viaFloats = decode(model, golden.promptIds());
        assertThat(model.floatPassCount() - before)
            .as("%s prompts and steps run on floats", golden)
            .isEqualTo(3 + STEPS);
        for (int i = 0; i < viaFloats.size(); i++) {
          float[] want = viaNdArrays.get(i);
          float[] got = viaFloats.get(i);
          for (int v = 0; v < want.length; v++) {
            if (Float.floatToRawIntBits(want[v]) != Float.floatToRawIntBits(got[v])) {
              assertThat(got[v])
                  .as(
                      "%s (overlap %s) step %d sequence %d, logit %d: floats vs NDArrays",
                      golden, overlap, i / 3, i % 3, v % model.config().vocabSize())
                  .isEqualTo(want[v]);
            }
          }
        }
      }
    }
  }

  /** Three sequences decoded greedily together; every sequence's logits of every step. */
  private static List<float[]> decode(LocalModel model, int[] prompt) {
    int vocab = model.config().vocabSize();
    List<PagedLatentCache> caches = new ArrayList<>();
    try {
      List<int[]> next = new ArrayList<>();
      for (int s = 0; s < 3; s++) {
        PagedLatentCache cache = model.newCache();
        caches.add(cache);
        int[] p = s == 0 ? prompt : new int[] {(11 * s) % vocab, (5 * s + 3) % vocab};
        float[] logits = model.forward(List.of(cache), List.of(p), false).getFirst();
        next.add(new int[] {GreedyForward.argmax(logits, 0, vocab)});
      }
      List<float[]> out = new ArrayList<>();
      GreedySteps.run(model, caches, next, STEPS).forEach(out::addAll);
      return out;
    } finally {
      caches.forEach(PagedLatentCache::close);
    }
  }
}
