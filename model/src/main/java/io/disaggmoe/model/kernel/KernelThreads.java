package io.disaggmoe.model.kernel;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

/**
 * Threads that share a multiplication's output rows with the thread that asked for it, so a decode
 * step reads its weights on every core: on the 2-vCPU Zen 3 VM of the benchmarks, one thread
 * streams about 21.6 GB/s and two 32.8-37.7.
 *
 * <p>The rows are cut into chunks that whichever thread is free claims, the caller included (one
 * equal share per thread for a matrix's rows, otherwise each claim smaller than the one before),
 * and the caller waits only for chunks a helper has claimed. A helper that is slow to wake (parked,
 * or its core taken by the collector or another process) therefore costs nothing: the caller does
 * the chunks itself. When each helper owned a fixed half, a batch-1 step at context 4096 took 47 ms
 * against 26 ms on the caller alone, because the helpers parked during the longer attention and
 * every next multiplication waited for one to wake.
 *
 * <p>Helpers spin for a short while after each multiplication before they park, because a step's
 * multiplications come back to back; where the caller is about to wait on another process ({@link
 * #rest}) they park at once. The number of threads is the system property {@code
 * disaggmoe.kernel.threads} (default: the cores the JVM may use; 1 turns the helpers off). Helpers
 * start on the first call that needs them and take that thread's scheduling priority (an expert
 * pool's niced compute thread makes niced helpers). One caller at a time: a second caller while
 * helpers work runs its multiplication alone, with the same result.
 */
public final class KernelThreads {
  /**
   * Below this many weight bytes a multiplication runs on its caller: a handoff would cost more.
   */
  public static final long MIN_PARALLEL_BYTES = 256 * 1024;

  /**
   * A claim takes this share of the blocks still unclaimed per thread, so claims shrink as the work
   * runs out: the first are large (few claims, long streams through the weights) and the last are
   * small (a thread that finishes early waits for little). At batch 8, the two threads were busy
   * 0.96-0.98 of the time inside multiplications and expert groups, against 0.93-0.94 with equal
   * chunks, four per thread.
   */
  private static final int CLAIM_DIVISOR = 2;

  private static final long SPIN_NANOS = 200_000;
  private static final int THREADS = configured();
  private static final AtomicBoolean BUSY = new AtomicBoolean();

  /**
   * Set by {@link #rest}: idle helpers park at once instead of spinning; the next share-out clears
   * it.
   */
  private static volatile boolean resting;

  /** Whether {@link #rest} parks the helpers ({@link #restOnWaits}). */
  private static volatile boolean restOnWaits = true;

  private static volatile Helper[] helpers;

  private KernelThreads() {}

  /** Output rows {@code [from, to)}: a share of one multiplication (or of any split work). */
  public interface Rows {
    void run(int from, int to);
  }

  /**
   * Tells the helpers that no multiplication follows soon (the caller is about to wait for expert
   * pools' replies, or a pool for its next dispatch): an idle helper parks now rather than spin for
   * work that will not come, which on cores shared with other processes (an attention process and
   * its pools on one machine) takes them from the process whose work is awaited. The next
   * multiplication wakes the helpers as usual. {@code bench decode --expert-pools 2 --batch 1,8} on
   * 2 vCPUs (the attention and both pools sharing them), five rounds alternating builds, sums of
   * the median steps against spinning: with micro-batch overlap 0.80x at batch 1 and 0.84x at batch
   * 8 (faster in 5 and 4 rounds of 5), without 0.96x and 0.91x; CPU time of the whole run
   * 0.78-0.97x.
   */
  public static void rest() {
    if (restOnWaits) {
      resting = true;
    }
  }

  /**
   * Whether {@link #rest} parks the helpers (default yes). Off where the services a caller waits on
   * run in this JVM ({@code up} without {@code --processes}): their passes run on these same
   * helpers, so parking them only adds a wake-up to each. On the tiny model's in-JVM {@code up},
   * 64-token completions (the mean of the 11th to 20th, four fresh suites a build, alternated) took
   * 0.339-0.448 s with resting against 0.348-0.409 s without.
   */
  public static void restOnWaits(boolean park) {
    restOnWaits = park;
  }

  /** A share-out is starting: helpers spin between multiplications again. */
  private static void endRest() {
    // Read first: a write on every share-out would contend for the flag's line for nothing.
    if (resting) {
      resting = false;
    }
  }

  /** Threads a multiplication may use, the caller included. */
  public static int count() {
    return THREADS;
  }

  private static int configured() {
    String v = System.getProperty("disaggmoe.kernel.threads");
    int n = v == null ? Runtime.getRuntime().availableProcessors() : Integer.parseInt(v.trim());
    if (n < 1) {
      throw new IllegalArgumentException("disaggmoe.kernel.threads must be at least 1, got " + v);
    }
    return n;
  }

  /**
   * Runs {@code rows} over {@code [0, w.rows())}, in chunks of whole blocks of {@code block}
   * outputs shared with the helpers when {@code w} is large enough to pay for it.
   */
  static void forRows(WeightMatrix w, int block, Rows rows) {
    forEqualShares(w.rows(), block, w.bytes(), rows);
  }

  /**
   * Runs {@code rows} over {@code [0, total)} in chunks of whole blocks of {@code block}, shared
   * with the helpers when the work reads at least {@link #MIN_PARALLEL_BYTES} ({@code bytes}). A
   * chunk boundary always falls on a block boundary, so work whose result is fixed per block gives
   * the same result on any number of threads.
   */
  public static void forChunks(int total, int block, long bytes, Rows rows) {
    share(total, block, bytes, rows, false);
  }

  /**
   * {@link #forChunks} in one claim per thread, of equal shares: for a matrix's rows, which all
   * cost the same. Each claim is a stream (two, at one row) through the weights, and the shrinking
   * claims ended in single tiles of 32 KB, each a new stream: one row through 1 MB matrices read
   * 41-46 GB/s in equal shares against 35.6-36.2 in shrinking claims (alternated in one process,
   * eight rounds), and 19 MB ones 43-50 against 45-46. A helper that is late to start still costs
   * nothing: the caller claims its share too.
   */
  public static void forEqualShares(int total, int block, long bytes, Rows rows) {
    share(total, block, bytes, rows, true);
  }

  /**
   * {@link #forChunks}, in claims of one equal share per thread ({@code equalShares}) or of {@link
   * #CLAIM_DIVISOR}'s shrinking size.
   */
  private static void share(int total, int block, long bytes, Rows rows, boolean equalShares) {
    int blocks = (total + block - 1) / block;
    if (THREADS == 1
        || blocks < 2
        || bytes < MIN_PARALLEL_BYTES
        || !BUSY.compareAndSet(false, true)) {
      rows.run(0, total);
      return;
    }
    try {
      endRest();
      Claims claims = new Claims();
      Part work =
          ignored -> {
            for (int first = claims.next.get(); first < blocks; first = claims.next.get()) {
              int size =
                  equalShares
                      ? (blocks + THREADS - 1) / THREADS
                      : Math.max(1, (blocks - first) / (CLAIM_DIVISOR * THREADS));
              size = Math.min(size, blocks - first);
              if (!claims.next.compareAndSet(first, first + size)) {
                continue;
              }
              try {
                rows.run(first * block, Math.min(total, (first + size) * block));
              } catch (RuntimeException | Error e) {
                claims.failure.compareAndSet(null, e);
              }
              claims.finished.addAndGet(size);
            }
          };
      for (Helper h : helpers()) {
        h.offer(work);
      }
      work.run(0);
      while (claims.finished.get() < blocks) {
        Thread.onSpinWait();
      }
      Throwable failure = claims.failure.get();
      if (failure instanceof RuntimeException r) {
        throw r;
      }
      if (failure instanceof Error e) {
        throw e;
      }
    } finally {
      BUSY.set(false);
    }
  }

  /** One multiplication's blocks: the next to claim, how many are done, the first failure. */
  private static final class Claims {
    final AtomicInteger next = new AtomicInteger();
    final AtomicInteger finished = new AtomicInteger();
    final AtomicReference<Throwable> failure = new AtomicReference<>();
  }

  /** Part {@code i} of {@code parts}. */
  interface Part {
    void run(int i);
  }

  /**
   * Runs {@code part(i)} for every thread i at once, 0 on the caller, and returns when all are done
   * (the read-bandwidth probe times exactly this).
   */
  static void onEveryThread(Part part) {
    if (THREADS == 1) {
      part.run(0);
      return;
    }
    while (!BUSY.compareAndSet(false, true)) {
      Thread.onSpinWait();
    }
    try {
      endRest();
      Helper[] hs = helpers();
      for (int i = 0; i < hs.length; i++) {
        hs[i].awaitIdle();
        int index = i + 1;
        hs[i].offer(ignored -> part.run(index));
      }
      part.run(0);
      for (Helper h : hs) {
        h.awaitIdle();
      }
    } finally {
      BUSY.set(false);
    }
  }

  private static Helper[] helpers() {
    Helper[] hs = helpers;
    if (hs == null) {
      synchronized (KernelThreads.class) {
        if (helpers == null) {
          Helper[] made = new Helper[THREADS - 1];
          for (int i = 0; i < made.length; i++) {
            made[i] = new Helper("disaggmoe-kernel-" + (i + 1));
          }
          helpers = made;
        }
        hs = helpers;
      }
    }
    return hs;
  }

  /** One helper thread: runs the work it is offered, then waits for more. */
  private static final class Helper implements Runnable {
    private final Thread thread;
    private final AtomicReference<Part> part = new AtomicReference<>();

    Helper(String name) {
      thread = Thread.ofPlatform().name(name).daemon().start(this);
    }

    /**
     * Hands {@code p} over, in place of an offer the helper may still be finishing: a
     * multiplication's part is a loop over claims, which returns at once when another thread has
     * claimed everything, so replacing it loses nothing. Offers were dropped instead while the
     * helper had not yet cleared the last one, and it sat out about 2% of the multiplications.
     */
    void offer(Part p) {
      part.set(p);
      LockSupport.unpark(thread);
    }

    void awaitIdle() {
      while (part.get() != null) {
        Thread.onSpinWait();
      }
    }

    @Override
    public void run() {
      while (true) {
        Part p = next();
        try {
          p.run(0);
        } catch (RuntimeException | Error e) {
          // forRows records failures per chunk; the probe's parts do not throw.
        }
        // Cleared only if no newer offer replaced it meanwhile; a newer one runs next.
        part.compareAndSet(p, null);
      }
    }

    private Part next() {
      long spinUntil = System.nanoTime() + SPIN_NANOS;
      while (true) {
        Part p = part.get();
        if (p != null) {
          return p;
        }
        if (!resting && System.nanoTime() < spinUntil) {
          Thread.onSpinWait();
        } else {
          LockSupport.park(this);
          spinUntil = System.nanoTime() + SPIN_NANOS;
        }
      }
    }
  }
}
