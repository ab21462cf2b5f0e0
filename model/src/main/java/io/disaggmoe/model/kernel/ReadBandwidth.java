package io.disaggmoe.model.kernel;

import io.disaggmoe.model.ComputeThread;
import java.util.Arrays;

/**
 * Measures how fast the kernel threads together stream memory they only read, the bound of a decode
 * step that reads weights once: the best of a few passes over a buffer far larger than the caches,
 * each thread summing its share with the same vector loads the kernels use.
 */
public final class ReadBandwidth {
  private ReadBandwidth() {}

  /**
   * Bytes per second read by {@link KernelThreads#count()} threads, the first of them {@code
   * thread}, over a {@code bytes}-sized buffer.
   */
  public static double measure(ComputeThread thread, int bytes) {
    return thread.call(
        () -> {
          float[] buffer = new float[bytes / Float.BYTES];
          Arrays.fill(buffer, 1f);
          int parts = KernelThreads.count();
          float[] sums = new float[parts];
          // Compiled before it is timed: the Vector API runs far slower until the JIT has it.
          for (int i = 0; i < 20_000; i++) {
            sums[0] += sum(buffer, 0, 4096);
          }
          double best = 0;
          for (int pass = 0; pass < 5; pass++) {
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
            best = Math.max(best, buffer.length * (double) Float.BYTES / (ns / 1e9));
          }
          return best;
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
