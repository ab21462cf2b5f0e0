package io.disaggmoe.attention.client;

import io.disaggmoe.proto.PlacementLayers;
import io.disaggmoe.proto.v1.Placement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Which pools hold each routed expert of each MoE layer, as one topology (or, without a control
 * plane, the pools themselves) said: what one forward pass routes by.
 */
final class RoutingTable {
  private final long version;
  private final int experts;
  private final Map<Integer, List<List<PoolConnection>>> holders = new TreeMap<>();

  /**
   * @param version the topology version the placements come from; 0 for the pools' own
   * @param placements each pool, in rotation order, with the placement to route to it by
   */
  RoutingTable(long version, Map<PoolConnection, Placement> placements, int experts) {
    this.version = version;
    this.experts = experts;
    placements.forEach(
        (pool, p) -> {
          PlacementLayers.of(p)
              .forEach(
                  (layer, held) -> {
                    List<List<PoolConnection>> layerHolders = layerHolders(layer);
                    for (int e : held) {
                      if (e >= 0 && e < experts) {
                        layerHolders.get(e).add(pool);
                      }
                    }
                  });
        });
  }

  private List<List<PoolConnection>> layerHolders(int layer) {
    return holders.computeIfAbsent(
        layer,
        l -> {
          List<List<PoolConnection>> byExpert = new ArrayList<>();
          for (int e = 0; e < experts; e++) {
            byExpert.add(new ArrayList<>());
          }
          return byExpert;
        });
  }

  long version() {
    return version;
  }

  /** The pools holding expert {@code e} of {@code layer}; empty when none does. */
  List<PoolConnection> holders(int layer, int e) {
    List<List<PoolConnection>> byExpert = holders.get(layer);
    return byExpert == null || e < 0 || e >= experts ? List.of() : byExpert.get(e);
  }

  /**
   * The experts no pool holds in each of {@code moeLayers} ("layer 1: [3, 4]"), empty when every
   * expert has a holder.
   */
  List<String> missing(List<Integer> moeLayers) {
    List<String> missing = new ArrayList<>();
    for (int layer : moeLayers) {
      List<Integer> none = new ArrayList<>();
      for (int e = 0; e < experts; e++) {
        if (holders(layer, e).isEmpty()) {
          none.add(e);
        }
      }
      if (!none.isEmpty()) {
        missing.add("layer " + layer + ": " + none);
      }
    }
    return missing;
  }
}
