package io.disaggmoe.orchestration.rebalance;

import io.disaggmoe.orchestration.placement.ExpertPlacementPlan;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Placements of whole deployments: per pool (by instance id, in a fixed order), the experts it
 * holds in each MoE layer. Pure functions over them: from a plan, the load they leave on each pool,
 * and the least change that gives every expert a holder again after pools left.
 */
public final class PoolPlacements {
  private PoolPlacements() {}

  /** Pool id -> (MoE layer -> experts held). */
  public static final class Placements
      extends LinkedHashMap<String, SortedMap<Integer, SortedSet<Integer>>> {}

  /**
   * The plan's placement: pool {@code i} of {@code pools} (in order) takes the slots {@code i*S ..
   * (i+1)*S - 1} of each layer ({@code plan.phy2log()[l]} for {@code moeLayers.get(l)}).
   */
  public static Placements of(
      ExpertPlacementPlan plan, List<Integer> moeLayers, List<String> pools) {
    Placements out = new Placements();
    int perPool = plan.phy2log()[0].length / pools.size();
    for (int p = 0; p < pools.size(); p++) {
      SortedMap<Integer, SortedSet<Integer>> layers = new TreeMap<>();
      for (int l = 0; l < moeLayers.size(); l++) {
        SortedSet<Integer> held = new TreeSet<>();
        for (int s = p * perPool; s < (p + 1) * perPool; s++) {
          held.add(plan.phy2log()[l][s]);
        }
        layers.put(moeLayers.get(l), held);
      }
      out.put(pools.get(p), layers);
    }
    return out;
  }

  /**
   * The heaviest pool's tokens over the mean pool's, averaged over the layers: a pool carries an
   * equal share of each expert it holds (attention instances rotate over an expert's holders).
   * {@code load[l]} is layer {@code moeLayers.get(l)}'s tokens per expert.
   */
  public static double maxOverMean(Placements placement, long[][] load, List<Integer> moeLayers) {
    double sum = 0;
    for (int l = 0; l < moeLayers.size(); l++) {
      int layer = moeLayers.get(l);
      int[] holders = new int[load[l].length];
      placement
          .values()
          .forEach(p -> p.getOrDefault(layer, new TreeSet<>()).forEach(e -> holders[e]++));
      double max = 0;
      double total = 0;
      for (var p : placement.values()) {
        double tokens = 0;
        for (int e : p.getOrDefault(layer, new TreeSet<>())) {
          tokens += (double) load[l][e] / holders[e];
        }
        max = Math.max(max, tokens);
        total += tokens;
      }
      sum += total == 0 ? 1 : max / (total / placement.size());
    }
    return moeLayers.isEmpty() ? 1 : sum / moeLayers.size();
  }

  /**
   * {@code survivors} with each expert no survivor holds added to one of them: per layer, the
   * hottest orphan first, each to the pool with the fewest tokens so far (then the fewest experts).
   * The survivors keep what they hold, so the change is only loads, no drops.
   */
  public static Placements coverOrphans(
      Placements survivors, long[][] load, List<Integer> moeLayers, int experts) {
    Placements out = new Placements();
    survivors.forEach(
        (id, layers) -> {
          SortedMap<Integer, SortedSet<Integer>> copy = new TreeMap<>();
          layers.forEach((l, e) -> copy.put(l, new TreeSet<>(e)));
          out.put(id, copy);
        });
    for (int l = 0; l < moeLayers.size(); l++) {
      int layer = moeLayers.get(l);
      long[] tokens = load[l];
      SortedSet<Integer> held = new TreeSet<>();
      out.values().forEach(p -> held.addAll(p.computeIfAbsent(layer, x -> new TreeSet<>())));
      List<Integer> orphans = new ArrayList<>();
      for (int e = 0; e < experts; e++) {
        if (!held.contains(e)) {
          orphans.add(e);
        }
      }
      orphans.sort(Comparator.comparingLong((Integer e) -> -tokens[e]).thenComparing(e -> e));
      Map<String, Double> poolTokens = new LinkedHashMap<>();
      out.forEach(
          (id, p) -> poolTokens.put(id, p.get(layer).stream().mapToDouble(e -> tokens[e]).sum()));
      for (int e : orphans) {
        String lightest =
            poolTokens.keySet().stream()
                .min(
                    Comparator.comparingDouble((String id) -> poolTokens.get(id))
                        .thenComparingInt(id -> out.get(id).get(layer).size()))
                .orElseThrow();
        out.get(lightest).get(layer).add(e);
        poolTokens.merge(lightest, (double) tokens[e], Double::sum);
      }
    }
    return out;
  }
}
