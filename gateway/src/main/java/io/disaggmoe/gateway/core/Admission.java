package io.disaggmoe.gateway.core;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * A bounded number of sequences run at once and a bounded queue of requests waits behind them; past
 * both a request is refused at once (503 with Retry-After) instead of waiting without limit. A
 * request takes a place for each sequence it generates (its prompts times n, as vLLM schedules each
 * choice as a sequence of its own), holds them until its stream ends, and a waiter that goes away
 * gives up its place in the queue. The queue is served in order: a large request at its head is not
 * passed by smaller ones behind it.
 */
public final class Admission {
  private final int maxRunning;
  private final int maxWaiting;
  private final GatewayMetrics metrics;
  private final Deque<Waiter> waiters = new ArrayDeque<>();
  private int running;

  private record Waiter(CompletableFuture<Slot> slot, int sequences) {}

  /** A running request's places; release them once, when its stream ends. */
  public final class Slot {
    private final int sequences;
    private boolean released;

    private Slot(int sequences) {
      this.sequences = sequences;
    }

    public void release() {
      synchronized (Admission.this) {
        if (released) {
          return;
        }
        released = true;
        running -= sequences;
      }
      admitWaiters();
    }
  }

  /** Admits waiters from the head of the queue while their sequences fit. */
  private void admitWaiters() {
    List<Waiter> admitted = new ArrayList<>();
    synchronized (this) {
      while (!waiters.isEmpty() && running + waiters.peekFirst().sequences() <= maxRunning) {
        Waiter next = waiters.pollFirst();
        running += next.sequences();
        admitted.add(next);
      }
      metrics.running().set(running);
      metrics.waiting().set(waiters.size());
    }
    // Completed outside the lock: what runs on a slot may release another.
    for (Waiter w : admitted) {
      Slot slot = new Slot(w.sequences());
      if (!w.slot().complete(slot)) {
        slot.release(); // it gave up meanwhile: its places pass on
      }
    }
  }

  public Admission(int maxRunning, int maxWaiting, GatewayMetrics metrics) {
    this.maxRunning = maxRunning;
    this.maxWaiting = maxWaiting;
    this.metrics = metrics;
  }

  /** {@link #acquire(int)} for a request of one sequence. */
  public CompletableFuture<Slot> acquire() {
    return acquire(1);
  }

  /**
   * Completes with places for {@code sequences}, now or when they free; fails with a 503 when the
   * queue is full, and with a 400 when the request asks for more than run at once.
   */
  public synchronized CompletableFuture<Slot> acquire(int sequences) {
    if (sequences > maxRunning) {
      return CompletableFuture.failedFuture(
          ApiException.badRequest(
              "the request asks for "
                  + sequences
                  + " sequences (prompts x n); this server runs at most "
                  + maxRunning
                  + " at once",
              null));
    }
    if (waiters.isEmpty() && running + sequences <= maxRunning) {
      running += sequences;
      metrics.running().set(running);
      return CompletableFuture.completedFuture(new Slot(sequences));
    }
    if (waiters.size() >= maxWaiting) {
      return CompletableFuture.failedFuture(
          ApiException.unavailable(
              "the server is at capacity: "
                  + running
                  + " sequences running and "
                  + waiters.size()
                  + " requests waiting; retry later",
              1));
    }
    CompletableFuture<Slot> f = new CompletableFuture<>();
    Waiter w = new Waiter(f, sequences);
    waiters.addLast(w);
    metrics.waiting().set(waiters.size());
    f.whenComplete(
        (s, e) -> {
          if (e != null) {
            synchronized (this) {
              waiters.remove(w);
            }
            admitWaiters(); // those behind a large request that left may fit now
          }
        });
    return f;
  }

  /** Sequences running. */
  public synchronized int running() {
    return running;
  }
}
