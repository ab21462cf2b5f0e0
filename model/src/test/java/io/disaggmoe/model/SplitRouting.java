package io.disaggmoe.model;

import io.disaggmoe.model.layer.RoutingDecision;

/**
 * Splits a routing decision between two expert shards, {@code [0, boundary)} and the rest; an
 * expert a token does not use in a shard keeps weight 0, so each shard's partial sum is exact.
 */
record SplitRouting(RoutingDecision low, RoutingDecision high) {
  static SplitRouting byExpert(RoutingDecision routing, int boundary) {
    int tokens = routing.tokens();
    int[][] lowIds = new int[tokens][];
    float[][] lowWeights = new float[tokens][];
    int[][] highIds = new int[tokens][];
    float[][] highWeights = new float[tokens][];
    for (int t = 0; t < tokens; t++) {
      int[] ids = routing.expertIds()[t];
      float[] w = routing.weights()[t];
      int n = 0;
      for (int id : ids) {
        n += id < boundary ? 1 : 0;
      }
      lowIds[t] = new int[n];
      lowWeights[t] = new float[n];
      highIds[t] = new int[ids.length - n];
      highWeights[t] = new float[ids.length - n];
      int l = 0;
      int h = 0;
      for (int j = 0; j < ids.length; j++) {
        if (ids[j] < boundary) {
          lowIds[t][l] = ids[j];
          lowWeights[t][l++] = w[j];
        } else {
          highIds[t][h] = ids[j];
          highWeights[t][h++] = w[j];
        }
      }
    }
    return new SplitRouting(
        new RoutingDecision(lowIds, lowWeights), new RoutingDecision(highIds, highWeights));
  }
}
