package io.disaggmoe.model;

import io.disaggmoe.model.layer.RoutingDecision;

/**
 * Splits a routing decision between two expert shards, {@code [0, boundary)} and the rest: a slot
 * that belongs to the other shard is marked -1, as on the wire to an expert pool.
 */
record SplitRouting(RoutingDecision low, RoutingDecision high) {
  static SplitRouting byExpert(RoutingDecision routing, int boundary) {
    int tokens = routing.tokens();
    int[][] low = new int[tokens][];
    int[][] high = new int[tokens][];
    for (int t = 0; t < tokens; t++) {
      int[] ids = routing.expertIds()[t];
      low[t] = new int[ids.length];
      high[t] = new int[ids.length];
      for (int j = 0; j < ids.length; j++) {
        low[t][j] = ids[j] < boundary ? ids[j] : -1;
        high[t][j] = ids[j] < boundary ? -1 : ids[j];
      }
    }
    return new SplitRouting(
        new RoutingDecision(low, routing.weights()), new RoutingDecision(high, routing.weights()));
  }
}
