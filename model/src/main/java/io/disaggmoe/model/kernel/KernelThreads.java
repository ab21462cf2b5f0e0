package io.disaggmoe.model.kernel;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;

/**
 * Threads that share a multiplication's output rows with the thread that asked for it, so a decode
 * step reads its weights on every core: one thread streams about 28 GB/s here, two about 33.
 *
 * <p>Helpers spin for a short while after each part before they park, because a step's
 * multiplications come back to back (an expert's three, then the next expert's) and waking a parked
 * thread costs more than a small part does. The number of threads is the system property {@code
 * disaggmoe.kernel.threads} (default: the cores the JVM may use; 1 turns the helpers off). Helpers
 * start on the first call that needs them and take that thread's scheduling priority (an expert
 * pool's niced compute thread makes niced helpers). One caller at a time: a second caller while
 * helpers work runs its multiplication alone, with the same result.
 */
public final class KernelThreads {
  /**
   * Below this many weight bytes a multiplication runs on its caller: a handoff would cost more.
   */
  static final long MIN_PARALLEL_BYTES = 256 * 1024;

  private static final long SPIN_NANOS = 200_000;
  private static final int THREADS = configured();
  private static final AtomicBoolean BUSY = new AtomicBoolean();
  private static volatile Helper[] helpers;

  private KernelThreads() {}

  /** Output rows {@code [from, to)}: a share of one multiplication. */
  interface Rows {
    void run(int from, int to);
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
   * Runs {@code rows} over {@code [0, w.rows())}, split in blocks of {@code block} outputs among
   * the threads when {@code w} is large enough to pay for it.
   */
  static void forRows(WeightMatrix w, int block, Rows rows) {
    int total = w.rows();
    int parts = Math.min(THREADS, Math.max(1, total / block));
    if (parts == 1 || w.bytes() < MIN_PARALLEL_BYTES || !BUSY.compareAndSet(false, true)) {
      rows.run(0, total);
      return;
    }
    try {
      int blocks = (total + block - 1) / block;
      split(
          parts,
          i ->
              rows.run(
                  start(i, parts, blocks, block, total),
                  start(i + 1, parts, blocks, block, total)));
    } finally {
      BUSY.set(false);
    }
  }

  private static int start(int part, int parts, int blocks, int block, int total) {
    return Math.min(total, (int) ((long) blocks * part / parts) * block);
  }

  /** Part {@code i} of {@code parts}. */
  interface Part {
    void run(int i);
  }

  /**
   * Runs parts {@code 0 .. parts-1} at once, part 0 on the caller, and returns when all are done
   * (rethrowing the first failure). The caller must hold {@link #BUSY}.
   */
  private static void split(int parts, Part part) {
    Helper[] hs = helpers();
    for (int i = 1; i < parts; i++) {
      hs[i - 1].give(i, part);
    }
    Throwable failure = null;
    try {
      part.run(0);
    } catch (RuntimeException | Error e) {
      failure = e;
    }
    for (int i = 1; i < parts; i++) {
      Throwable t = hs[i - 1].await();
      if (failure == null) {
        failure = t;
      }
    }
    if (failure instanceof RuntimeException r) {
      throw r;
    }
    if (failure instanceof Error e) {
      throw e;
    }
  }

  /** Runs {@code part} on every thread at once (the read-bandwidth probe times exactly this). */
  static void onEveryThread(Part part) {
    if (THREADS == 1) {
      part.run(0);
      return;
    }
    while (!BUSY.compareAndSet(false, true)) {
      Thread.onSpinWait();
    }
    try {
      split(THREADS, part);
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

  /** One helper thread: takes a part, runs it, reports, and waits for the next. */
  private static final class Helper implements Runnable {
    private final Thread thread;
    private volatile Part part;
    private volatile int index;
    private volatile boolean done = true;
    private volatile Throwable failure;

    Helper(String name) {
      thread = Thread.ofPlatform().name(name).daemon().start(this);
    }

    void give(int i, Part p) {
      index = i;
      failure = null;
      done = false;
      part = p;
      LockSupport.unpark(thread);
    }

    Throwable await() {
      while (!done) {
        Thread.onSpinWait();
      }
      return failure;
    }

    @Override
    public void run() {
      while (true) {
        Part p = next();
        try {
          p.run(index);
        } catch (Throwable t) {
          failure = t;
        }
        part = null;
        done = true;
      }
    }

    private Part next() {
      long spinUntil = System.nanoTime() + SPIN_NANOS;
      while (true) {
        Part p = part;
        if (p != null) {
          return p;
        }
        if (System.nanoTime() < spinUntil) {
          Thread.onSpinWait();
        } else {
          LockSupport.park(this);
          spinUntil = System.nanoTime() + SPIN_NANOS;
        }
      }
    }
  }
}
