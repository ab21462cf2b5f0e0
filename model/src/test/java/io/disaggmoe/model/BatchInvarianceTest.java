package io.disaggmoe.model;

import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.model.cache.PagedLatentCache;
import io.disaggmoe.model.layer.AttentionMode;
import io.disaggmoe.model.testing.GoldenCase;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A sequence decoded alone and decoded beside others gets bit-identical logits, so its greedy
 * tokens do not depend on what the server batched it with: every kernel of a decode step sums each
 * row in an order fixed by the row alone.
 */
class BatchInvarianceTest {
  private static final int STEPS = 12;

  @ParameterizedTest
  @EnumSource(AttentionMode.class)
  void decodeLogitsDoNotDependOnTheBatch(AttentionMode mode) throws Exception {
    GoldenCase golden = GoldenCase.named("v3-tiny");
    try (LocalModel model = LocalModel.load(golden.dir(), mode)) {
      List<float[]> alone = decode(model, golden.promptIds(), 0);
      for (int others : new int[] {1, 2, 3, 7}) {
        List<float[]> batched = decode(model, golden.promptIds(), others);
        for (int step = 0; step < STEPS; step++) {
          float[] a = alone.get(step);
          float[] b = batched.get(step);
          for (int v = 0; v < a.length; v++) {
            assertThat(Float.floatToRawIntBits(b[v]))
                .as(
                    "step %d, logit %d: alone %s, beside %d other sequences %s",
                    step, v, a[v], others, b[v])
                .isEqualTo(Float.floatToRawIntBits(a[v]));
          }
        }
      }
    }
  }

  /** Greedy decode of {@code prompt} beside {@code others} sequences; its logits per step. */
  private static List<float[]> decode(LocalModel model, int[] prompt, int others) {
    int vocab = model.config().vocabSize();
    List<PagedLatentCache> caches = new ArrayList<>();
    try {
      List<int[]> next = new ArrayList<>();
      for (int s = 0; s <= others; s++) {
        PagedLatentCache cache = model.newCache();
        caches.add(cache);
        int[] p = s == 0 ? prompt : new int[] {(7 * s) % vocab, (13 * s + 1) % vocab, s % vocab};
        // Each prompt is prefilled alone, so only the decode steps are batched differently.
        float[] logits = model.forward(List.of(cache), List.of(p), false).getFirst();
        next.add(new int[] {GreedyForward.argmax(logits, 0, vocab)});
      }
      List<float[]> out = new ArrayList<>();
      for (List<float[]> step : GreedySteps.run(model, caches, next, STEPS)) {
        out.add(step.getFirst());
      }
      return out;
    } finally {
      caches.forEach(PagedLatentCache::close);
    }
  }
}
