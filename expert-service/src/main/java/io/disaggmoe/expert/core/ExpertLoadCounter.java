package io.disaggmoe.expert.core;

import java.util.concurrent.atomic.AtomicLongArray;

/** Tokens served per expert per layer since start, for the control plane's rebalancing. */
public final class ExpertLoadCounter {
  private final AtomicLongArray counts;
  private final int experts;

  public ExpertLoadCounter(int layers, int experts) {
    this.counts = new AtomicLongArray(layers * experts);
    this.experts = experts;
  }

  void add(int layer, int expert, long tokens) {
    counts.addAndGet(layer * experts + expert, tokens);
  }

  /** Tokens each expert of {@code layer} served, indexed by expert id. */
  public long[] layer(int layer) {
    long[] out = new long[experts];
    for (int e = 0; e < experts; e++) {
      out[e] = counts.get(layer * experts + e);
    }
    return out;
  }
}
