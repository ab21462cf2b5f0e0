package io.disaggmoe.expert.core;

import ai.djl.ndarray.NDManager;
import io.disaggmoe.model.ComputeThread;
import io.disaggmoe.model.expert.RoutedExperts;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Runs a pool's dispatches on its compute thread one expert pass at a time, and merges into each
 * pass the tokens of every waiting dispatch that chose that expert of that layer.
 *
 * <p>Why: a pass over a few decode tokens costs about what reading the expert's weights costs,
 * whatever the token count. The two micro-batches of an attention instance (and the instances of a
 * deployment) send the same layer close together, and each touches most experts; run one dispatch
 * after the other, they read those weights once each. Here a dispatch that arrives while another of
 * its layer is part way through joins every pass not yet made, and only the experts already passed
 * over cost it a pass of its own.
 *
 * <p>Order: the layer of the oldest unfinished dispatch, and within it the experts in ascending
 * order from where the last pass stopped, wrapping around, so that no dispatch waits more than one
 * sweep. A dispatch completes with its last pass, on the compute thread; its sums are taken in
 * ascending expert order, so merging changes no sum's order.
 */
final class DispatchScheduler implements AutoCloseable {
  private RoutedExperts experts;
  private final NDManager manager;
  private final ComputeThread compute;
  private final int dim;
  private final int expertCount;
  private final Queue<PendingDispatch> arrivals = new ConcurrentLinkedQueue<>();
  private final AtomicBoolean draining = new AtomicBoolean();
  private final AtomicLong passes = new AtomicLong();
  private boolean closed;

  // Touched only on the compute thread.
  private final Map<Integer, LayerPlan> plans = new HashMap<>();
  private final ArrayDeque<PendingDispatch> open = new ArrayDeque<>();

  DispatchScheduler(
      RoutedExperts experts, NDManager manager, ComputeThread compute, int dim, int expertCount) {
    this.experts = experts;
    this.manager = manager;
    this.compute = compute;
    this.dim = dim;
    this.expertCount = expertCount;
  }

  /** Queues {@code d}; its result completes on the compute thread. */
  void submit(PendingDispatch d) {
    synchronized (this) {
      if (closed) {
        throw new ExpertPoolClosedException("the expert pool is shutting down");
      }
      arrivals.add(d);
    }
    if (draining.compareAndSet(false, true)) {
      compute.execute(this::drain);
    }
  }

  /** Runs later passes with {@code held}; called on the compute thread, between passes. */
  void useExperts(RoutedExperts held) {
    this.experts = held;
  }

  /** Expert passes made since start: one read of one expert's weights, for any number of tokens. */
  long passes() {
    return passes.get();
  }

  private void drain() {
    try {
      drainQueued();
    } catch (RuntimeException | Error e) {
      // A bug here must not leave callers waiting forever: fail what is open, start clean.
      absorbArrivals();
      open.forEach(d -> d.fail(new IllegalStateException("expert scheduler failed", e)));
      open.clear();
      plans.clear();
      draining.set(false);
      if (!arrivals.isEmpty() && draining.compareAndSet(false, true)) {
        compute.execute(this::drain);
      }
      throw e;
    }
  }

  private void drainQueued() {
    while (true) {
      absorbArrivals();
      PendingDispatch oldest = oldestOpen();
      if (oldest == null) {
        draining.set(false);
        // A dispatch queued after the last look, whose submit saw this drain still running.
        if (arrivals.isEmpty() || !draining.compareAndSet(false, true)) {
          return;
        }
        continue;
      }
      runNextPass(plans.get(oldest.layer()), oldest.layer());
    }
  }

  private void absorbArrivals() {
    for (PendingDispatch d; (d = arrivals.poll()) != null; ) {
      if (d.settled()) {
        continue;
      }
      LayerPlan plan = plans.computeIfAbsent(d.layer(), l -> new LayerPlan(expertCount));
      for (int s = 0; s < d.slots(); s++) {
        int e = d.expertOf(s);
        if (e >= 0) {
          plan.waiting[e].add(new Slot(d, s));
        }
      }
      open.add(d);
    }
  }

  private PendingDispatch oldestOpen() {
    while (!open.isEmpty() && open.peek().settled()) {
      open.poll();
    }
    return open.peek();
  }

  /** One pass of the next expert in {@code layer} with waiting slots, over all of them. */
  private void runNextPass(LayerPlan plan, int layer) {
    int expert = plan.next();
    List<Slot> slots = plan.waiting[expert];
    plan.waiting[expert] = new ArrayList<>();
    plan.cursor = expert + 1;
    slots.removeIf(s -> s.dispatch().settled());
    if (slots.isEmpty()) {
      return;
    }
    int n = slots.size();
    float[] rows = new float[n * dim];
    for (int i = 0; i < n; i++) {
      slots.get(i).dispatch().copyRow(slots.get(i).slot(), rows, i * dim);
    }
    float[] y;
    try {
      if (!experts.holds(layer, expert)) {
        throw new ExpertNotHeldException(
            "expert " + expert + " of layer " + layer + " was dropped from this pool");
      }
      y = experts.get(layer, expert).forward(rows, n, manager);
    } catch (RuntimeException e) {
      slots.forEach(s -> s.dispatch().fail(e));
      return;
    }
    passes.incrementAndGet();
    for (int i = 0; i < n; i++) {
      slots.get(i).dispatch().store(slots.get(i).slot(), y, i * dim);
    }
  }

  /** Refuses new dispatches and returns once every accepted one has completed. */
  @Override
  public void close() {
    synchronized (this) {
      closed = true;
    }
    // Queued behind any drain already scheduled; runs what is left itself.
    compute.run(this::drain);
  }

  private record Slot(PendingDispatch dispatch, int slot) {}

  /** The slots of one layer waiting for a pass, by expert, and where the sweep stands. */
  private static final class LayerPlan {
    private final List<Slot>[] waiting;
    private int cursor;

    @SuppressWarnings("unchecked")
    LayerPlan(int experts) {
      waiting = new List[experts];
      for (int e = 0; e < experts; e++) {
        waiting[e] = new ArrayList<>();
      }
    }

    /** The first expert from the cursor on, wrapping around, with a waiting slot. */
    int next() {
      for (int i = 0; i < waiting.length; i++) {
        int e = (cursor + i) % waiting.length;
        if (!waiting[e].isEmpty()) {
          return e;
        }
      }
      throw new IllegalStateException("no expert has waiting slots");
    }
  }
}
