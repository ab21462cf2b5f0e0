package io.disaggmoe.cli;

import io.disaggmoe.model.GreedyForward;
import io.disaggmoe.model.LocalModel;
import io.disaggmoe.model.cache.PagedLatentCache;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalDouble;
import java.util.SplittableRandom;
import java.util.function.LongSupplier;

/**
 * Times batched greedy decode: {@code batch} sequences prefilled with seeded random prompts, then
 * decode steps that run the whole batch through every layer.
 */
final class DecodeBenchmark {
  /** {@code expertPassesPerStep}: present when the pools' passes were counted. */
  record Result(
      int batch, double msPerStep, double tokensPerSecond, OptionalDouble expertPassesPerStep) {}

  private static final int PREFILL_CHUNK = 512;

  private DecodeBenchmark() {}

  static Result run(LocalModel model, int batch, int promptLength, int warmup, int steps) {
    return run(model, batch, promptLength, warmup, steps, null);
  }

  /** The same, counting the timed steps' expert passes with {@code passes} (a running total). */
  static Result run(
      LocalModel model, int batch, int promptLength, int warmup, int steps, LongSupplier passes) {
    int vocab = model.config().vocabSize();
    SplittableRandom random = new SplittableRandom(batch);
    List<PagedLatentCache> caches = new ArrayList<>();
    try {
      List<int[]> prompts = new ArrayList<>();
      for (int s = 0; s < batch; s++) {
        caches.add(model.newCache());
        prompts.add(random.ints(promptLength, 0, vocab).toArray());
      }
      List<int[]> next = new ArrayList<>();
      for (int s = 0; s < batch; s++) {
        next.add(prefill(model, caches.get(s), prompts.get(s), vocab));
      }
      for (int i = 0; i < warmup; i++) {
        next = nextTokens(model.forward(caches, next, false), vocab);
      }
      long passesBefore = passes == null ? 0 : passes.getAsLong();
      long start = System.nanoTime();
      for (int i = 0; i < steps; i++) {
        next = nextTokens(model.forward(caches, next, false), vocab);
      }
      double seconds = (System.nanoTime() - start) / 1e9;
      return new Result(
          batch,
          seconds * 1000 / steps,
          batch * steps / seconds,
          passes == null
              ? OptionalDouble.empty()
              : OptionalDouble.of((passes.getAsLong() - passesBefore) / (double) steps));
    } finally {
      caches.forEach(PagedLatentCache::close);
    }
  }

  /**
   * Prefills one sequence in chunks, so that a long context (--context 4096) costs no more memory
   * than a chunk, and returns its first generated token.
   */
  private static int[] prefill(LocalModel model, PagedLatentCache cache, int[] prompt, int vocab) {
    float[] logits = null;
    for (int at = 0; at < prompt.length; at += PREFILL_CHUNK) {
      int[] chunk = Arrays.copyOfRange(prompt, at, Math.min(prompt.length, at + PREFILL_CHUNK));
      logits = model.forward(List.of(cache), List.of(chunk), false).getFirst();
    }
    return new int[] {GreedyForward.argmax(logits, 0, vocab)};
  }

  private static List<int[]> nextTokens(List<float[]> logits, int vocab) {
    List<int[]> next = new ArrayList<>(logits.size());
    for (float[] l : logits) {
      next.add(new int[] {GreedyForward.argmax(l, 0, vocab)});
    }
    return next;
  }
}
