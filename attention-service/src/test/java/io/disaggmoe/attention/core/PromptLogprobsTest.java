package io.disaggmoe.attention.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.disaggmoe.model.GreedyForward;
import io.disaggmoe.model.sampling.SampledToken;
import io.disaggmoe.model.testing.GoldenCase;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** Prompt log probabilities equal a log-softmax of the model's own prefill logits. */
class PromptLogprobsTest {
  @Test
  void everyPromptTokenIsScoredByThePositionsBeforeIt() throws Exception {
    GoldenCase golden = GoldenCase.named("v3-tiny");
    // Chunks of 3 tokens, and a cached prefix that must not be used: every position is scored.
    try (SplitStack s = new SplitStack(golden.dir(), 1 << 24, 4, 1 << 24, 3)) {
      int[] prompt = golden.promptIds();
      s.prefill("warm", "t", prompt, SplitStack.greedy(2), false);
      s.kv.unpin("warm");
      PrefillResult r =
          s.prefill
              .submit(new PrefillJob("scored", "t", prompt, SplitStack.greedy(2), false, 2))
              .get();
      assertThat(r.cachedTokens()).as("prompt positions taken from the cache").isZero();
      assertThat(r.promptLogprobs()).hasSize(prompt.length - 1);
      int vocab = s.model.config().vocabSize();
      float[] logits = GreedyForward.run(s.model, prompt, 0).prefillLogits();
      for (int p = 0; p + 1 < prompt.length; p++) {
        float[] row = Arrays.copyOfRange(logits, p * vocab, (p + 1) * vocab);
        double max = Double.NEGATIVE_INFINITY;
        for (float x : row) {
          max = Math.max(max, x);
        }
        double sum = 0;
        for (float x : row) {
          sum += Math.exp(x - max);
        }
        double logZ = max + Math.log(sum);
        SampledToken t = r.promptLogprobs().get(p);
        assertThat(t.tokenId()).isEqualTo(prompt[p + 1]);
        assertThat((double) t.logprob().logprob())
            .as("log p(prompt[%d] | prompt[..%d])", p + 1, p)
            .isCloseTo(row[prompt[p + 1]] - logZ, within(1e-4));
        assertThat(t.topLogprobs()).hasSize(2);
        assertThat(t.topLogprobs().get(0).logprob()).isGreaterThanOrEqualTo(t.logprob().logprob());
      }
      s.kv.unpin("scored");
    }
  }
}
