package io.disaggmoe.model;

import io.disaggmoe.model.cache.PagedLatentCache;
import java.util.ArrayList;
import java.util.List;

/** Greedy decode steps of several sequences at once, for tests that compare their logits. */
final class GreedySteps {
  private GreedySteps() {}

  /**
   * Runs {@code steps} steps of every sequence in {@code caches}, starting from {@code next} (one
   * token each), each step feeding back every sequence's argmax. Returns every step's logits,
   * sequence by sequence.
   */
  static List<List<float[]>> run(
      LocalModel model, List<PagedLatentCache> caches, List<int[]> next, int steps) {
    int vocab = model.config().vocabSize();
    List<List<float[]>> out = new ArrayList<>();
    for (int step = 0; step < steps; step++) {
      List<float[]> logits = model.forward(caches, next, false);
      out.add(logits);
      next = GreedyForward.nextTokens(logits, vocab);
    }
    return out;
  }
}
