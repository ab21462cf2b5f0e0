package io.disaggmoe.model.layer;

/**
 * The experts chosen for each token of a batch and their routing weights, {@code [tokens][k]}, in
 * descending order of selection score.
 */
public record RoutingDecision(int[][] expertIds, float[][] weights) {
  public int tokens() {
    return expertIds.length;
  }
}
