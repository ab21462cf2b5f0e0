package io.disaggmoe.model;

import io.disaggmoe.model.cache.PagedLatentCache;
import java.util.ArrayList;
import java.util.List;

/**
 * Prefill a prompt then greedy-decode: the reference run that golden data, the {@code forward}
 * command and every disaggregated path are compared on.
 *
 * <p>{@code greedyIds[0]} is the argmax of the last prompt position; decode step {@code j} feeds
 * {@code greedyIds[j]} at position {@code T+j} and yields {@code decodeLogits[j]} and {@code
 * greedyIds[j+1]}.
 */
public record GreedyForward(float[] prefillLogits, float[] decodeLogits, long[] greedyIds) {

  /**
   * Runs {@code prompt} (as given, no BOS added) then {@code steps} decode steps on {@code model}.
   */
  public static GreedyForward run(LocalModel model, int[] prompt, int steps) {
    int vocab = model.config().vocabSize();
    float[] decode = new float[steps * vocab];
    long[] greedy = new long[steps + 1];
    try (PagedLatentCache cache = model.newCache()) {
      float[] prefill = model.forward(List.of(cache), List.of(prompt), true).get(0);
      greedy[0] = argmax(prefill, (prompt.length - 1) * vocab, vocab);
      for (int j = 0; j < steps; j++) {
        int[] token = {(int) greedy[j]};
        float[] logits = model.forward(List.of(cache), List.of(token), false).get(0);
        System.arraycopy(logits, 0, decode, j * vocab, vocab);
        greedy[j + 1] = argmax(logits, 0, vocab);
      }
      return new GreedyForward(prefill, decode, greedy);
    }
  }

  /**
   * Each sequence's greedy next token ({@code logits}: one {@code [vocab]} row per sequence, as
   * {@link LocalModel#forward} gives a step's), one token array each, ready to be fed back.
   */
  public static List<int[]> nextTokens(List<float[]> logits, int vocab) {
    List<int[]> tokens = new ArrayList<>(logits.size());
    for (float[] l : logits) {
      tokens.add(new int[] {argmax(l, 0, vocab)});
    }
    return tokens;
  }

  /** Index of the largest of {@code values[offset .. offset+n)}, relative to offset. */
  public static int argmax(float[] values, int offset, int n) {
    int best = 0;
    for (int i = 1; i < n; i++) {
      if (values[offset + i] > values[offset + best]) {
        best = i;
      }
    }
    return best;
  }
}
