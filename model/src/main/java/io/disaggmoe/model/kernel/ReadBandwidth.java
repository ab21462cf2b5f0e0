package io.disaggmoe.model.kernel;

import io.disaggmoe.model.ComputeThread;
import java.util.Arrays;

/**
 * Measures how fast the kernel threads together stream memory they only read, the bound of a decode
 * step that reads weights once: passes over a buffer far larger than the caches, each thread
 * summing its share with the same vector loads the kernels use.
 *
 * <p>A {@link ReadBandwidth} keeps its buffer, so that a benchmark can run one pass between its
 * timed steps: on a shared machine the rate moves by twofold within a minute, and a bound probed
 * once at the start of a run can sit in another phase than the steps it bounds.
 */
public final class ReadBandwidth {
  private final ComputeThread thread;
  private final float[] buffer;
  private final float[] sums;

  private ReadBandwidth(ComputeThread thread, int bytes) {
    this.thread = thread;
    this.buffer = new float[bytes / Float.BYTES];
    this.sums = new float[KernelThreads.count()];
    Arrays.fill(buffer, 1f);
  }

  /**
   * A probe over a {@code bytes}-sized buffer, read by {@link KernelThreads#count()} threads, the
   * first of them {@code thread}; its sums are compiled before it returns.
   */
  public static ReadBandwidth open(ComputeThread thread, int bytes) {
    ReadBandwidth probe = new ReadBandwidth(thread, bytes);
    thread.call(
        () -> {
          // The Vector API runs far slower until the JIT has it.
          for (int i = 0; i < 20_000; i++) {
            probe.sums[0] += sum(probe.buffer, 0, 4096);
          }
          return null;
        });
    return probe;
  }

  /** The fastest of {@code passes} passes back to back: bytes per second. */
  public double best(int passes) {
    double best = 0;
    for (int pass = 0; pass < passes; pass++) {
      best = Math.max(best, pass());
    }
    return best;
  }

  /** Reads the whole buffer once, shared among the kernel threads: bytes per second. */
  public double pass() {
    return thread.call(
        () -> {
          int parts = sums.length;
          long start = System.nanoTime();
          KernelThreads.onEveryThread(
              i -> {
                int from = (int) ((long) buffer.length * i / parts);
                int to = (int) ((long) buffer.length * (i + 1) / parts);
                sums[i] = sum(buffer, from, to);
              });
          long ns = System.nanoTime() - start;
          for (float sum : sums) {
            if (sum < 0) {
              throw new IllegalStateException("read probe summed " + sum);
            }
          }
          return buffer.length * (double) Float.BYTES / (ns / 1e9);
        });
  }

  private static float sum(float[] v, int from, int to) {
    return MatMul.vectorAvailable() ? VectorMatMul.sum(v, from, to) : scalarSum(v, from, to);
  }

  private static float scalarSum(float[] v, int from, int to) {
    float s = 0;
    for (int i = from; i < to; i++) {
      s += v[i];
    }
    return s;
  }
}
