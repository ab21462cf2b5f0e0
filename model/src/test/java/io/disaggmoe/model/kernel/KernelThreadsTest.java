package io.disaggmoe.model.kernel;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

class KernelThreadsTest {
  @Test
  void everyRowRunsOnceAndEveryClaimStartsOnABlock() {
    int[][] shapes = {{512, 16}, {520, 16}, {33, 1}, {7, 1}, {4096, 16}};
    for (int[] shape : shapes) {
      int total = shape[0];
      int block = shape[1];
      for (long bytes : new long[] {1024, 1024L * 1024}) {
        AtomicIntegerArray runs = new AtomicIntegerArray(total);
        KernelThreads.forChunks(
            total,
            block,
            bytes,
            (from, to) -> {
              assertThat(from % block).as("claim start %d", from).isZero();
              for (int r = from; r < to; r++) {
                runs.incrementAndGet(r);
              }
            });
        for (int r = 0; r < total; r++) {
          assertThat(runs.get(r))
              .as("row %d of %d, blocks of %d, %d bytes", r, total, block, bytes)
              .isEqualTo(1);
        }
      }
    }
  }
}
