package io.disaggmoe.expert.core;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/** Holds a pool's compute thread until closed, so that dispatches queue up behind it in tests. */
public final class PoolPause implements AutoCloseable {
  private final CountDownLatch release = new CountDownLatch(1);

  /**
   * Returns once the compute thread is held: a drain still running from an earlier dispatch (its
   * result is set before its loop ends) would otherwise run a dispatch sent after this returns.
   */
  public PoolPause(ExpertPool pool) throws InterruptedException {
    CountDownLatch held = new CountDownLatch(1);
    pool.computeThread()
        .execute(
            () -> {
              held.countDown();
              try {
                release.await(10, TimeUnit.SECONDS);
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              }
            });
    if (!held.await(10, TimeUnit.SECONDS)) {
      throw new IllegalStateException("the pool's compute thread did not pause within 10 s");
    }
  }

  @Override
  public void close() {
    release.countDown();
  }
}
