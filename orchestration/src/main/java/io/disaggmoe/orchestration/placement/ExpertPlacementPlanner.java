package io.disaggmoe.orchestration.placement;

/**
 * Plans where each layer's experts live, from the tokens each expert served, with redundant copies
 * of hot experts so that pools carry even loads under a budget of physical slots.
 *
 * <p>It follows DeepSeek's expert-parallel load balancer (EPLB). When the expert groups divide
 * among the nodes, hierarchically: (1) pack whole groups onto nodes, evening the nodes' tokens and
 * keeping each token's experts on few nodes (routing picks experts group-limited); (2) within each
 * node, give the next slot to the expert with the most tokens per copy, until the node's slots are
 * used; (3) pack each node's copies onto its pools, heaviest first into the lightest pool. Else
 * globally: the same with one group and one node.
 *
 * <p>A copy of an expert serves an equal share of its tokens, which is how attention instances
 * split a replicated expert's tokens among its slots.
 */
public final class ExpertPlacementPlanner {
  private ExpertPlacementPlanner() {}

  /**
   * @param weight [layers][logical experts] tokens served
   * @param slots physical expert slots per layer across all pools (a multiple of {@code pools}, at
   *     least the number of experts)
   * @param groups expert groups (routing's groups)
   * @param nodes nodes the pools are spread over
   * @param pools expert pools
   * @throws IllegalArgumentException naming the first parameter that cannot be honoured
   */
  public static ExpertPlacementPlan plan(
      long[][] weight, int slots, int groups, int nodes, int pools) {
    if (weight.length == 0 || weight[0].length == 0) {
      throw new IllegalArgumentException("weight has no layers or no experts");
    }
    int experts = weight[0].length;
    for (long[] layer : weight) {
      if (layer.length != experts) {
        throw new IllegalArgumentException(
            "every layer of weight must list " + experts + " experts");
      }
      for (long t : layer) {
        if (t < 0) {
          throw new IllegalArgumentException("weight holds a negative token count: " + t);
        }
      }
    }
    require(groups >= 1 && experts % groups == 0, "--groups must divide " + experts + " experts");
    require(nodes >= 1 && pools >= 1 && pools % nodes == 0, "--nodes must divide --pools");
    require(slots >= experts, "--slots must be at least the " + experts + " experts");
    require(slots % pools == 0, "--slots must be a multiple of --pools");
    boolean hierarchical = groups % nodes == 0;
    int g = hierarchical ? groups : 1;
    int k = hierarchical ? nodes : 1;
    require(experts % k == 0 && slots % k == 0, "--nodes must divide the experts and the slots");
    int[][] phy2log = new int[weight.length][];
    int[][] logcnt = new int[weight.length][];
    double[] maxOverMean = new double[weight.length];
    for (int l = 0; l < weight.length; l++) {
      int[][] layer = planLayer(weight[l], slots, g, k, pools);
      phy2log[l] = layer[0];
      logcnt[l] = layer[1];
      maxOverMean[l] = maxOverMean(weight[l], phy2log[l], logcnt[l], pools);
    }
    return new ExpertPlacementPlan(phy2log, logcnt, maxOverMean);
  }

  private static void require(boolean ok, String message) {
    if (!ok) {
      throw new IllegalArgumentException(message);
    }
  }

  /** {phy2log, logcnt} of one layer. */
  private static int[][] planLayer(long[] tokens, int slots, int groups, int nodes, int pools) {
    int experts = tokens.length;
    int groupSize = experts / groups;
    int groupsPerNode = groups / nodes;
    int expertsPerNode = experts / nodes;
    int slotsPerNode = slots / nodes;
    int poolsPerNode = pools / nodes;
    int slotsPerPool = slots / pools;

    // 1. Groups onto nodes; log2mlog numbers experts node by node.
    double[] groupTokens = new double[groups];
    for (int e = 0; e < experts; e++) {
      groupTokens[e / groupSize] += tokens[e];
    }
    BalancedPacking.Packed groupPacks = BalancedPacking.pack(groupTokens, nodes);
    int[] log2mlog = new int[experts];
    for (int e = 0; e < experts; e++) {
      int group = e / groupSize;
      int node = groupPacks.pack()[group];
      log2mlog[e] = (node * groupsPerNode + groupPacks.rank()[group]) * groupSize + e % groupSize;
    }
    int[] mlog2log = Order.inverse(log2mlog);

    int[] phy2log = new int[slots];
    int[] logcnt = new int[experts];
    for (int node = 0; node < nodes; node++) {
      // 2. Copies within the node: each next slot to the expert with most tokens per copy.
      double[] nodeTokens = new double[expertsPerNode];
      for (int m = 0; m < expertsPerNode; m++) {
        nodeTokens[m] = tokens[mlog2log[node * expertsPerNode + m]];
      }
      int[] phy2mlog = new int[slotsPerNode];
      int[] count = new int[expertsPerNode];
      for (int s = 0; s < slotsPerNode; s++) {
        if (s < expertsPerNode) {
          phy2mlog[s] = s;
          count[s] = 1;
          continue;
        }
        int best = 0;
        for (int m = 1; m < expertsPerNode; m++) {
          if (nodeTokens[m] / count[m] > nodeTokens[best] / count[best]) {
            best = m;
          }
        }
        phy2mlog[s] = best;
        count[best]++;
      }
      // 3. The node's copies onto its pools.
      double[] copyTokens = new double[slotsPerNode];
      for (int s = 0; s < slotsPerNode; s++) {
        copyTokens[s] = nodeTokens[phy2mlog[s]] / count[phy2mlog[s]];
      }
      BalancedPacking.Packed copies = BalancedPacking.pack(copyTokens, poolsPerNode);
      for (int s = 0; s < slotsPerNode; s++) {
        int slot = node * slotsPerNode + copies.pack()[s] * slotsPerPool + copies.rank()[s];
        phy2log[slot] = mlog2log[node * expertsPerNode + phy2mlog[s]];
      }
      for (int m = 0; m < expertsPerNode; m++) {
        logcnt[mlog2log[node * expertsPerNode + m]] = count[m];
      }
    }
    return new int[][] {phy2log, logcnt};
  }

  /**
   * The heaviest pool's load over the mean pool load, a copy carrying {@code tokens[e] /
   * logcnt[e]}; 1 when no expert served a token.
   */
  public static double maxOverMean(long[] tokens, int[] phy2log, int[] logcnt, int pools) {
    int perPool = phy2log.length / pools;
    double max = 0;
    double sum = 0;
    for (int p = 0; p < pools; p++) {
      double load = 0;
      for (int s = p * perPool; s < (p + 1) * perPool; s++) {
        int e = phy2log[s];
        load += (double) tokens[e] / logcnt[e];
      }
      max = Math.max(max, load);
      sum += load;
    }
    return sum == 0 ? 1 : max / (sum / pools);
  }
}
