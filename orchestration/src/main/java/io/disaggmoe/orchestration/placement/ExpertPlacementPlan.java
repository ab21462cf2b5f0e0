package io.disaggmoe.orchestration.placement;

/**
 * A placement for every MoE layer: {@code phy2log[l][s]} is the logical expert physical slot {@code
 * s} holds (pool {@code g} holds slots {@code g*S/P .. (g+1)*S/P - 1}), {@code logcnt[l][e]} how
 * many slots hold expert {@code e}, and {@code maxOverMean[l]} the layer's heaviest pool load over
 * its mean pool load for the loads it was planned from (1 is perfect balance).
 */
public record ExpertPlacementPlan(int[][] phy2log, int[][] logcnt, double[] maxOverMean) {}
