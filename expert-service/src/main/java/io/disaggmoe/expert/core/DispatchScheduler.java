package io.disaggmoe.expert.core;

import ai.djl.ndarray.NDManager;
import io.disaggmoe.model.ComputeThread;
import io.disaggmoe.model.expert.RoutedExperts;
import io.disaggmoe.model.kernel.KernelThreads;
import io.disaggmoe.model.layer.Expert;
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
 * Runs a pool's dispatches on its compute thread a few expert passes at a time (each run whole by
 * one of the kernel threads), and merges into each pass the tokens of every waiting dispatch that
 * chose that expert of that layer.
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
  /** Expert passes run together, shared among the kernel threads. */
  static final int PASSES_AT_ONCE = 2 * KernelThreads.count();

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
        // Nothing to pass over until the next dispatch arrives, a round trip or more away.
        KernelThreads.rest();
        draining.set(false);
        // A dispatch queued after the last look, whose submit saw this drain still running.
        if (arrivals.isEmpty() || !draining.compareAndSet(false, true)) {
          return;
        }
        continue;
      }
      runNextPasses(plans.get(oldest.layer()), oldest.layer());
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

  /**
   * The passes of the next experts in {@code layer} with waiting slots, each over all of them: up
   * to {@link #PASSES_AT_ONCE}, each run whole by one kernel thread. A pass over a few decode
   * tokens reads three small matrices, and sharing each matrix's rows among the threads cost a wait
   * for the helpers per matrix. A dispatch that arrives meanwhile joins the passes after these.
   */
  private void runNextPasses(LayerPlan plan, int layer) {
    List<Pass> due = new ArrayList<>();
    do {
      int expert = plan.next();
      List<Slot> slots = plan.waiting[expert];
      plan.waiting[expert] = new ArrayList<>();
      plan.cursor = expert + 1;
      slots.removeIf(s -> s.dispatch().settled());
      if (!slots.isEmpty()) {
        // One pass for all of them: the float kernels give each row the same bits in any batch.
        due.add(new Pass(expert, slots, dim));
      }
    } while (due.size() < PASSES_AT_ONCE && plan.hasWaiting());
    Expert[] held = new Expert[due.size()];
    float[][] rows = new float[due.size()][];
    int[] counts = new int[due.size()];
    for (int i = 0; i < due.size(); i++) {
      Pass pass = due.get(i);
      if (experts.holds(layer, pass.expert)) {
        held[i] = experts.get(layer, pass.expert);
        rows[i] = pass.rows;
        counts[i] = pass.slots.size();
      } else {
        pass.failure =
            new ExpertNotHeldException(
                "expert " + pass.expert + " of layer " + layer + " was dropped from this pool");
      }
    }
    try {
      float[][] ys = Expert.forwardEach(held, rows, counts, manager);
      for (int i = 0; i < due.size(); i++) {
        due.get(i).y = ys[i];
      }
    } catch (RuntimeException e) {
      due.forEach(pass -> pass.failure = pass.failure == null ? e : pass.failure);
    }
    for (Pass pass : due) {
      if (pass.failure != null) {
        pass.slots.forEach(s -> s.dispatch().fail(pass.failure));
        continue;
      }
      passes.incrementAndGet();
      for (int i = 0; i < pass.slots.size(); i++) {
        pass.slots.get(i).dispatch().store(pass.slots.get(i).slot(), pass.y, i * dim);
      }
    }
  }

  /** One expert's pass: its slots' rows in, its outputs or its failure out. */
  private static final class Pass {
    final int expert;
    final List<Slot> slots;
    final float[] rows;
    float[] y;
    RuntimeException failure;

    Pass(int expert, List<Slot> slots, int dim) {
      this.expert = expert;
      this.slots = slots;
      this.rows = new float[slots.size() * dim];
      for (int i = 0; i < slots.size(); i++) {
        slots.get(i).dispatch().copyRow(slots.get(i).slot(), rows, i * dim);
      }
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

    boolean hasWaiting() {
      for (List<Slot> w : waiting) {
        if (!w.isEmpty()) {
          return true;
        }
      }
      return false;
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
