package io.disaggmoe.model;

import io.disaggmoe.model.cache.PagedLatentCache;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Synthetic requests through a freshly loaded model before it serves, so that the JIT has compiled
 * the whole path (attention over the latent cache, routing, the experts, wherever they run, the LM
 * head) before the first request pays for it: a fresh process runs several times slower until then
 * (the bench model: 36 ms a batch-1 step over the first 50 steps, 7.2-8.7 ms from step 450; the
 * first 64-token completion on a fresh {@code up} 4.4 s against 1.1-1.9 s later). The model's state
 * is untouched: every sequence has a cache of its own, closed after its round.
 */
public final class ModelWarmUp {
  /** What a warm-up ran: prompts prefilled, decode steps (each over a whole batch) and its time. */
  public record Result(int prompts, int steps, Duration took) {}

  private static final int PROMPT_TOKENS = 16;

  /** Decode steps of one batch before the next round starts new sequences. */
  private static final int STEPS_PER_ROUND = 32;

  private ModelWarmUp() {}

  /**
   * Rounds of {@link #PROMPT_TOKENS}-token random prompts, each prefilled alone and then decoded
   * greedily together, in batches of 1, 2, 4, 8 ... up to {@code maxBatch} in turn (the kernels
   * take other paths at other row counts), until {@code budget} has passed.
   */
  public static Result run(LocalModel model, Duration budget, int maxBatch) {
    long start = System.nanoTime();
    long deadline = start + budget.toNanos();
    int vocab = model.config().vocabSize();
    SplittableRandom random = new SplittableRandom(0);
    List<Integer> sizes = new ArrayList<>();
    for (int b = 1; b <= Math.max(1, maxBatch); b *= 2) {
      sizes.add(b);
    }
    int prompts = 0;
    int steps = 0;
    for (int round = 0; System.nanoTime() < deadline; round++) {
      int batch = sizes.get(round % sizes.size());
      List<PagedLatentCache> caches = new ArrayList<>();
      try {
        List<int[]> next = new ArrayList<>();
        for (int s = 0; s < batch && System.nanoTime() < deadline; s++) {
          PagedLatentCache cache = model.newCache();
          caches.add(cache);
          int[] prompt = random.ints(PROMPT_TOKENS, 0, vocab).toArray();
          next.add(
              GreedyForward.nextTokens(model.forward(List.of(cache), List.of(prompt), false), vocab)
                  .getFirst());
          prompts++;
        }
        for (int i = 0; i < STEPS_PER_ROUND && System.nanoTime() < deadline; i++) {
          next = GreedyForward.nextTokens(model.forward(caches, next, false), vocab);
          steps++;
        }
      } finally {
        caches.forEach(PagedLatentCache::close);
      }
    }
    return new Result(prompts, steps, Duration.ofNanos(System.nanoTime() - start));
  }
}
