package io.disaggmoe.model.kernel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assumptions.assumeThat;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class KernelThreadsTest {
  /** How a test shares out rows: {@code forChunks} or {@code forEqualShares}. */
  private interface Sharing {
    void run(int total, int block, long bytes, KernelThreads.Rows rows);
  }

  @ParameterizedTest(name = "equal shares: {0}")
  @ValueSource(booleans = {false, true})
  void everyRowRunsOnceAndEveryClaimStartsOnABlock(boolean equalShares) {
    Sharing sharing = equalShares ? KernelThreads::forEqualShares : KernelThreads::forChunks;
    int[][] shapes = {{512, 16}, {520, 16}, {33, 1}, {7, 1}, {4096, 16}};
    for (int[] shape : shapes) {
      int total = shape[0];
      int block = shape[1];
      for (long bytes : new long[] {1024, 1024L * 1024}) {
        AtomicIntegerArray runs = new AtomicIntegerArray(total);
        AtomicInteger claims = new AtomicInteger();
        sharing.run(
            total,
            block,
            bytes,
            (from, to) -> {
              assertThat(from % block).as("claim start %d", from).isZero();
              claims.incrementAndGet();
              for (int r = from; r < to; r++) {
                runs.incrementAndGet(r);
              }
            });
        for (int r = 0; r < total; r++) {
          assertThat(runs.get(r))
              .as("row %d of %d, blocks of %d, %d bytes", r, total, block, bytes)
              .isEqualTo(1);
        }
        if (equalShares) {
          assertThat(claims.get())
              .as("claims of %d rows in blocks of %d, %d bytes", total, block, bytes)
              .isBetween(1, KernelThreads.count());
        }
      }
    }
  }

  /**
   * After {@link KernelThreads#rest} the helpers park at once; the next share-out must wake them:
   * each claim here waits until every thread holds one, so the caller cannot run them all.
   */
  @Test
  void helpersTakeTheirSharesAgainAfterResting() throws InterruptedException {
    int threads = KernelThreads.count();
    assumeThat(threads).as("kernel threads").isGreaterThan(1);
    for (int round = 0; round < 3; round++) {
      KernelThreads.rest();
      Thread.sleep(20);
      CountDownLatch everyThread = new CountDownLatch(threads);
      Set<String> ran = ConcurrentHashMap.newKeySet();
      AtomicInteger timedOut = new AtomicInteger();
      KernelThreads.forEqualShares(
          threads,
          1,
          KernelThreads.MIN_PARALLEL_BYTES,
          (from, to) -> {
            ran.add(Thread.currentThread().getName());
            everyThread.countDown();
            try {
              if (!everyThread.await(30, TimeUnit.SECONDS)) {
                timedOut.incrementAndGet();
              }
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
            }
          });
      assertThat(timedOut.get())
          .as("round %d: claims that waited 30 s for the other threads' claims", round)
          .isZero();
      assertThat(ran).as("round %d: threads that ran a claim", round).hasSize(threads);
    }
  }
}
