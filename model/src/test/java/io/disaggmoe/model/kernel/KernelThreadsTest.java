package io.disaggmoe.model.kernel;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

class KernelThreadsTest {
  @Test
  void everyRowRunsOnceAndEveryClaimStartsOnABlockWhateverTheClaimSizes() {
    int[][] shapes = {{512, 16}, {520, 16}, {33, 1}, {7, 1}, {4096, 16}};
    long[] leastBytes = {0, 256 * 1024, 1L << 40};
    for (int[] shape : shapes) {
      int total = shape[0];
      int block = shape[1];
      for (int divisor : new int[] {1, 2}) {
        for (long least : leastBytes) {
          AtomicIntegerArray runs = new AtomicIntegerArray(total);
          KernelThreads.forChunks(
              total,
              block,
              1024L * 1024,
              (from, to) -> {
                assertThat(from % block).as("claim start %d", from).isZero();
                for (int r = from; r < to; r++) {
                  runs.incrementAndGet(r);
                }
              },
              divisor,
              least);
          for (int r = 0; r < total; r++) {
            assertThat(runs.get(r))
                .as(
                    "row %d of %d, blocks of %d, divisor %d, least %d bytes",
                    r, total, block, divisor, least)
                .isEqualTo(1);
          }
        }
      }
    }
  }
}
