package io.disaggmoe.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import org.apache.commons.rng.simple.RandomSource;
import org.apache.commons.statistics.distribution.GammaDistribution;

/**
 * An open-loop load as vLLM's {@code benchmark_serving} makes it: requests of random prompt ids
 * arrive with gamma-distributed gaps (mean 1/rate; burstiness is the shape, 1 for Poisson), at most
 * {@code concurrency} in flight, each on its own virtual thread.
 */
final class ServeLoad {
  /** Prompt ids are drawn from here: inside every preset's vocabulary, clear of special tokens. */
  static final int FIRST_ID = 100;

  static final int LAST_ID = 16_000;

  /** What a run sent and saw. */
  record Result(List<RequestTiming> timings, long startNanos, long endNanos) {
    double seconds() {
      return (endNanos - startNanos) / 1e9;
    }
  }

  private ServeLoad() {}

  static List<int[]> prompts(int count, int length, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    List<int[]> out = new ArrayList<>(count);
    for (int i = 0; i < count; i++) {
      out.add(r.ints(length, FIRST_ID, LAST_ID).toArray());
    }
    return out;
  }

  /** Arrival offsets in nanoseconds from the start; all at 0 for an infinite rate. */
  static long[] arrivals(int count, double rate, double burstiness, long seed) {
    long[] at = new long[count];
    if (Double.isInfinite(rate)) {
      return at;
    }
    var gaps =
        GammaDistribution.of(burstiness, 1 / (rate * burstiness))
            .createSampler(RandomSource.XO_RO_SHI_RO_128_PP.create(seed));
    double t = 0;
    for (int i = 0; i < count; i++) {
      at[i] = (long) (t * 1e9);
      t += gaps.sample();
    }
    return at;
  }

  /**
   * Request i goes to {@code senders.get(i % senders.size())}: senders compared in one run share
   * the machine's state (warm-up, other load) request by request. One result per sender.
   */
  static List<Result> run(
      List<LoadSender> senders,
      List<int[]> prompts,
      int outputTokens,
      long[] arrivals,
      int concurrency)
      throws Exception {
    Semaphore inFlight = new Semaphore(concurrency > 0 ? concurrency : Integer.MAX_VALUE);
    List<Future<RequestTiming>> calls = new ArrayList<>();
    long start = System.nanoTime();
    try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
      for (int i = 0; i < prompts.size(); i++) {
        long wait = start + arrivals[i] - System.nanoTime();
        if (wait > 0) {
          TimeUnit.NANOSECONDS.sleep(wait);
        }
        int[] prompt = prompts.get(i);
        LoadSender sender = senders.get(i % senders.size());
        inFlight.acquire();
        calls.add(
            threads.submit(
                () -> {
                  try {
                    return sender.send(prompt, outputTokens);
                  } finally {
                    inFlight.release();
                  }
                }));
      }
      List<List<RequestTiming>> timings = new ArrayList<>();
      senders.forEach(x -> timings.add(new ArrayList<>()));
      for (int i = 0; i < calls.size(); i++) {
        timings.get(i % senders.size()).add(calls.get(i).get());
      }
      long end = System.nanoTime();
      return timings.stream().map(t -> new Result(t, start, end)).toList();
    }
  }
}
