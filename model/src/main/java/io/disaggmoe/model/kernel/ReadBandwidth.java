package io.disaggmoe.model.kernel;

import io.disaggmoe.model.ComputeThread;
import java.util.Arrays;

/**
 * Measures how fast one thread streams memory it only reads, the bound of a decode step that reads
 * weights once: the best of a few passes over a buffer far larger than the caches, summed with the
 * same vector loads the kernels use.
 */
public final class ReadBandwidth {
  private ReadBandwidth() {}

  /** Bytes per second read on {@code thread} over a {@code bytes}-sized buffer. */
  public static double measure(ComputeThread thread, int bytes) {
    return thread.call(
        () -> {
          float[] buffer = new float[bytes / Float.BYTES];
          Arrays.fill(buffer, 1f);
          double best = 0;
          for (int pass = 0; pass < 5; pass++) {
            long start = System.nanoTime();
            float sum = MatMul.vectorAvailable() ? VectorMatMul.sum(buffer) : scalarSum(buffer);
            long ns = System.nanoTime() - start;
            if (sum < 0) {
              throw new IllegalStateException("read probe summed " + sum);
            }
            best = Math.max(best, buffer.length * (double) Float.BYTES / (ns / 1e9));
          }
          return best;
        });
  }

  private static float scalarSum(float[] v) {
    float s = 0;
    for (float f : v) {
      s += f;
    }
    return s;
  }
}
