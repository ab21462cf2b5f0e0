package io.disaggmoe.gateway.core;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.CompletableFuture;

/**
 * A bounded number of requests run at once and a bounded queue waits behind them; past both a
 * request is refused at once (503 with Retry-After) instead of waiting without limit. A request
 * holds its slot until its stream ends, and a waiter that goes away gives up its place.
 */
public final class Admission {
  private final int maxRunning;
  private final int maxWaiting;
  private final GatewayMetrics metrics;
  private final Deque<CompletableFuture<Slot>> waiters = new ArrayDeque<>();
  private int running;

  /** A running request's place; release it once, when its stream ends. */
  public final class Slot {
    private boolean released;

    public void release() {
      synchronized (Admission.this) {
        if (released) {
          return;
        }
        released = true;
      }
      // The place passes straight to the next waiter; one that gave up passes it on.
      while (true) {
        CompletableFuture<Slot> next;
        synchronized (Admission.this) {
          next = waiters.pollFirst();
          metrics.waiting().set(waiters.size());
          if (next == null) {
            running--;
            metrics.running().set(running);
            return;
          }
        }
        if (next.complete(new Slot())) {
          return;
        }
      }
    }
  }

  public Admission(int maxRunning, int maxWaiting, GatewayMetrics metrics) {
    this.maxRunning = maxRunning;
    this.maxWaiting = maxWaiting;
    this.metrics = metrics;
  }

  /** Completes with a slot, now or when one frees; fails with a 503 when the queue is full. */
  public synchronized CompletableFuture<Slot> acquire() {
    if (running < maxRunning) {
      running++;
      metrics.running().set(running);
      return CompletableFuture.completedFuture(new Slot());
    }
    if (waiters.size() >= maxWaiting) {
      return CompletableFuture.failedFuture(
          ApiException.unavailable(
              "the server is at capacity: "
                  + running
                  + " requests running and "
                  + waiters.size()
                  + " waiting; retry later",
              1));
    }
    CompletableFuture<Slot> f = new CompletableFuture<>();
    waiters.addLast(f);
    metrics.waiting().set(waiters.size());
    f.whenComplete(
        (s, e) -> {
          if (e != null) {
            synchronized (this) {
              waiters.remove(f);
              metrics.waiting().set(waiters.size());
            }
          }
        });
    return f;
  }

  public synchronized int running() {
    return running;
  }
}
