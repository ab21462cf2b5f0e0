package io.disaggmoe.cli;

import io.disaggmoe.attention.client.GrpcExpertExecutor;
import io.disaggmoe.model.expert.ExpertExecutor;
import io.disaggmoe.model.layer.RoutingDecision;
import java.util.BitSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.LongAdder;

/**
 * Counts how many expert weight passes the pools make: each dispatch reads every distinct expert it
 * routes to once, however many of its tokens chose it. Decode on CPU is bound by these reads, so
 * two micro-batches, which each touch most experts, read more than one whole batch does.
 */
final class ExpertReadCounter implements ExpertExecutor {
  private final GrpcExpertExecutor pools;
  private final LongAdder passes = new LongAdder();

  ExpertReadCounter(GrpcExpertExecutor pools) {
    this.pools = pools;
  }

  GrpcExpertExecutor pools() {
    return pools;
  }

  @Override
  public CompletableFuture<float[]> dispatch(
      int layer, float[] hidden, int dim, RoutingDecision routing) {
    BitSet experts = new BitSet();
    for (int[] chosen : routing.expertIds()) {
      for (int e : chosen) {
        experts.set(e);
      }
    }
    passes.add(experts.cardinality());
    return pools.dispatch(layer, hidden, dim, routing);
  }

  /** Expert passes since the last call. */
  long takePasses() {
    return passes.sumThenReset();
  }

  @Override
  public void close() {
    pools.close();
  }
}
