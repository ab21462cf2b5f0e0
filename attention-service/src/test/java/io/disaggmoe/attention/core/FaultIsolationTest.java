package io.disaggmoe.attention.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.disaggmoe.attention.client.LatentBlock;
import io.disaggmoe.model.sampling.CompletionStep;
import io.disaggmoe.model.testing.GoldenCase;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** A bad block or a failing request stays that request's problem. */
class FaultIsolationTest {
  private static final GoldenCase GOLDEN = GoldenCase.named("v3-tiny");

  @Test
  void blocksThatAreNotFiniteAreMissesAndTheOutputIsExact() throws Exception {
    try (SplitStack s = new SplitStack(GOLDEN.dir(), 1 << 24, 4, 1 << 24, 512)) {
      int[] prompt = GOLDEN.promptIds();
      // Blocks named as this prompt's, full of NaN: stored before the request arrives.
      List<byte[]> hashes = s.kv.blockHashes("t", prompt);
      var c = s.model.config();
      List<LatentBlock> poisoned = new ArrayList<>();
      for (int i = 0; i < hashes.size(); i++) {
        float[] v = new float[4 * c.numHiddenLayers() * c.latentDim()];
        Arrays.fill(v, Float.NaN);
        poisoned.add(new LatentBlock(4, v));
      }
      s.kv.putBlocks(hashes, poisoned);
      SplitStack.Output out = s.run("r", "t", prompt, SplitStack.greedy(GOLDEN.greedyIds().length));
      assertThat(out.ids()).as("greedy ids past NaN blocks").isEqualTo(GOLDEN.greedyIds());
      assertThat(out.prefill().computedTokens())
          .as("prompt positions computed, none taken from the poisoned blocks")
          .isEqualTo(prompt.length);
    }
  }

  @Test
  void aRequestThatFailsInItsStepFailsAloneAndItsBatchGoesOn() throws Exception {
    try (SplitStack s = new SplitStack(GOLDEN.dir(), 1 << 24, 4, 1 << 24, 512)) {
      int[] prompt = GOLDEN.promptIds();
      int steps = GOLDEN.greedyIds().length;
      PrefillResult a = s.prefill("a", "t", prompt, SplitStack.greedy(steps), false);
      PrefillResult b = s.prefill("b", "t", prompt, SplitStack.greedy(steps), false);
      // "a"'s listener breaks on its third token, as a stream whose client vanished may.
      SplitStack.Collector broken =
          new SplitStack.Collector() {
            @Override
            public synchronized void onStep(CompletionStep step, float[] logits) {
              if (count() == 2) {
                throw new IllegalStateException("the client of a is gone");
              }
              super.onStep(step, logits);
            }
          };
      s.decode.submit(
          SplitStack.decodeJob("a", "t", prompt, a, SplitStack.greedy(steps), false), broken);
      SplitStack.Collector fine = new SplitStack.Collector();
      s.decode.submit(
          SplitStack.decodeJob("b", "t", prompt, b, SplitStack.greedy(steps), false), fine);
      assertThatThrownBy(() -> broken.done.get(60, TimeUnit.SECONDS))
          .hasMessageContaining("the client of a is gone");
      fine.done.get(60, TimeUnit.SECONDS);
      List<Integer> ids = new ArrayList<>(List.of(b.first().token().tokenId()));
      ids.addAll(fine.ids);
      assertThat(ids.stream().mapToInt(Integer::intValue).toArray())
          .as("greedy ids of the request batched with the failing one")
          .isEqualTo(GOLDEN.greedyIds());
    }
  }
}
