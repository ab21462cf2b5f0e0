package io.disaggmoe.expert.core;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/** Holds a pool's compute thread until closed, so that dispatches queue up behind it in tests. */
public final class PoolPause implements AutoCloseable {
  private final CountDownLatch release = new CountDownLatch(1);

  public PoolPause(ExpertPool pool) {
    pool.computeThread()
        .execute(
            () -> {
              try {
                release.await(10, TimeUnit.SECONDS);
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              }
            });
  }

  @Override
  public void close() {
    release.countDown();
  }
}
