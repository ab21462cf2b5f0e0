package io.disaggmoe.cli;

import io.disaggmoe.model.GreedyForward;
import io.disaggmoe.model.LocalModel;
import io.disaggmoe.model.cache.PagedLatentCache;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalDouble;
import java.util.SplittableRandom;
import java.util.function.DoubleSupplier;
import java.util.function.LongSupplier;

/**
 * Times batched greedy decode: {@code batch} sequences prefilled with seeded random prompts, then
 * decode steps that run the whole batch through every layer.
 *
 * <p>A long context is a shared prefix and {@link #OWN_TOKENS} tokens of each sequence's own: the
 * prefix is computed once and its cache copied to every sequence, as a server reuses a cached
 * system prompt. A step attends over every position all the same, and the sequences still choose
 * their own tokens and experts; only the setup is shorter (8 prompts of 4096 took 6 minutes).
 */
final class DecodeBenchmark {
  /**
   * {@code msPerStep} is the timed steps' mean; {@code medianMsPerStep}, where steps are timed one
   * by one, their median, which a burst of another tenant's work on a shared machine moves less.
   * {@code expertPassesPerStep}: present when the pools' passes were counted. {@code
   * positionsPerStep}: the cached positions a timed step attends over, all sequences together (each
   * sequence's own new one included), on average. {@code readBytesPerSecond}: where a read probe
   * ran a pass after each timed step, the fastest of those passes (their median read about 6% less
   * than back-to-back passes in the same minutes: a bound must not be low).
   */
  record Result(
      int batch,
      double msPerStep,
      double tokensPerSecond,
      OptionalDouble expertPassesPerStep,
      OptionalDouble medianMsPerStep,
      OptionalDouble positionsPerStep,
      OptionalDouble readBytesPerSecond,
      List<TimedStep> timedSteps) {}

  /**
   * One timed step: its time, the expert passes it ran (0 where they are not counted) and the read
   * bandwidth of the probe pass run right after it, so that a step can be set against the bandwidth
   * of its own seconds. Recorded only where a probe runs.
   */
  record TimedStep(long nanos, long expertPasses, double readBytesPerSecond) {}

  private static final int PREFILL_CHUNK = 512;

  /** Tokens of each sequence's prompt that are its own; the rest is one shared prefix. */
  static final int OWN_TOKENS = 16;

  private DecodeBenchmark() {}

  /**
   * Times {@code steps} steps of a new batch after {@code warmup} untimed ones of another, counting
   * their expert passes with {@code passes} (a running total) and running {@code probe} (a read
   * pass, in bytes per second) after each, not timed: the steps and the bandwidth that bounds them
   * are measured in the same seconds. Either may be null.
   */
  static Result run(
      LocalModel model,
      int batch,
      int promptLength,
      int warmup,
      int steps,
      LongSupplier passes,
      DoubleSupplier probe) {
    int vocab = model.config().vocabSize();
    SplittableRandom random = new SplittableRandom(batch);
    int shared = Math.max(0, promptLength - OWN_TOKENS);
    float[] prefix = sharedPrefix(model, random.ints(shared, 0, vocab).toArray(), vocab);
    // The untimed steps run on a batch of their own, so that the timed steps begin at the stated
    // context: run on the timed batch, 300 of them (which the JIT needs here) put a context of 16
    // at 316 before the first timed step.
    int own = promptLength - shared;
    try (Batch untimed = Batch.start(model, batch, prefix, shared, own, random)) {
      for (int i = 0; i < warmup; i++) {
        untimed.step();
      }
    }
    try (Batch timed = Batch.start(model, batch, prefix, shared, own, random)) {
      long passesBefore = passes == null ? 0 : passes.getAsLong();
      long positions = 0;
      long[] stepNanos = new long[steps];
      List<TimedStep> timedSteps = new ArrayList<>();
      long nanos = 0;
      long passesAt = passesBefore;
      for (int i = 0; i < steps; i++) {
        positions += timed.positions();
        long start = System.nanoTime();
        timed.step();
        stepNanos[i] = System.nanoTime() - start;
        nanos += stepNanos[i];
        if (probe != null) {
          double read = probe.getAsDouble();
          long passesNow = passes == null ? 0 : passes.getAsLong();
          timedSteps.add(new TimedStep(stepNanos[i], passesNow - passesAt, read));
          passesAt = passesNow;
        }
      }
      double seconds = nanos / 1e9;
      Arrays.sort(stepNanos);
      double median = (stepNanos[(steps - 1) / 2] + stepNanos[steps / 2]) / 2.0 / 1e6;
      return new Result(
          batch,
          seconds * 1000 / steps,
          batch * steps / seconds,
          passes == null
              ? OptionalDouble.empty()
              : OptionalDouble.of((passes.getAsLong() - passesBefore) / (double) steps),
          OptionalDouble.of(median),
          OptionalDouble.of(positions / (double) steps),
          timedSteps.stream().mapToDouble(TimedStep::readBytesPerSecond).max(),
          timedSteps);
    }
  }

  /** Sequences decoded together: their caches and each one's next token. */
  private static final class Batch implements AutoCloseable {
    private final LocalModel model;
    private final int vocab;
    private final List<PagedLatentCache> caches = new ArrayList<>();
    private List<int[]> next = new ArrayList<>();

    private Batch(LocalModel model) {
      this.model = model;
      this.vocab = model.config().vocabSize();
    }

    /**
     * {@code size} sequences: the first {@code shared} positions of each copied from {@code
     * prefix}'s rows, then {@code own} random tokens of its own prefilled.
     */
    static Batch start(
        LocalModel model, int size, float[] prefix, int shared, int own, SplittableRandom random) {
      Batch b = new Batch(model);
      try {
        for (int s = 0; s < size; s++) {
          PagedLatentCache cache = model.newCache();
          b.caches.add(cache);
          if (shared > 0) {
            cache.appendRows(prefix, shared);
          }
          int[] prompt = random.ints(own, 0, b.vocab).toArray();
          b.next.add(DecodeBenchmark.prefill(model, cache, prompt, b.vocab));
        }
        return b;
      } catch (RuntimeException e) {
        b.close();
        throw e;
      }
    }

    /** One greedy step of every sequence. */
    void step() {
      next = GreedyForward.nextTokens(model.forward(caches, next, false), vocab);
    }

    /** Cached positions the next step attends over, each sequence's new one included. */
    long positions() {
      long n = 0;
      for (PagedLatentCache cache : caches) {
        n += cache.length() + 1;
      }
      return n;
    }

    @Override
    public void close() {
      caches.forEach(PagedLatentCache::close);
    }
  }

  /** The latent cache rows of {@code prefix} (every layer), or none when it is empty. */
  private static float[] sharedPrefix(LocalModel model, int[] prefix, int vocab) {
    if (prefix.length == 0) {
      return new float[0];
    }
    try (PagedLatentCache cache = model.newCache()) {
      prefill(model, cache, prefix, vocab);
      return cache.exportRows(0, prefix.length);
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
}
