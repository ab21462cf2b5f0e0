package io.disaggmoe.orchestration.rebalance;

import io.disaggmoe.proto.v1.ExpertLoad;
import io.disaggmoe.proto.v1.LayerLoad;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The tokens per expert per layer that pools reported, since the last placement switch. Pools
 * report counts since they started; the ledger keeps each pool's count at the last switch and plans
 * from what came since (a pool that restarted counts from zero).
 */
public final class ExpertLoadLedger {
  private final Map<String, Map<Integer, long[]>> latest = new HashMap<>();
  private final Map<String, Map<Integer, long[]>> atSwitch = new HashMap<>();

  /** Keeps {@code load}, counted since pool {@code id} started. */
  public synchronized void report(String id, ExpertLoad load) {
    Map<Integer, long[]> layers = new TreeMap<>();
    for (LayerLoad l : load.getLayersList()) {
      layers.put(l.getLayer(), l.getTokensPerExpertList().stream().mapToLong(x -> x).toArray());
    }
    Map<Integer, long[]> base = atSwitch.get(id);
    if (base != null && fell(base, layers)) {
      atSwitch.remove(id);
    }
    latest.put(id, layers);
  }

  /** A count below the one kept: the pool restarted and counts from zero again. */
  private static boolean fell(Map<Integer, long[]> base, Map<Integer, long[]> now) {
    for (var e : base.entrySet()) {
      long[] n = now.get(e.getKey());
      long[] b = e.getValue();
      if (n == null || n.length != b.length) {
        return true;
      }
      for (int i = 0; i < b.length; i++) {
        if (n[i] < b[i]) {
          return true;
        }
      }
    }
    return false;
  }

  /**
   * {@code [layer index in moeLayers][expert]}: tokens routed to each expert since the last switch,
   * summed over the pools that hold it.
   */
  public synchronized long[][] window(List<Integer> moeLayers, int experts) {
    long[][] w = new long[moeLayers.size()][experts];
    latest.forEach(
        (id, layers) -> {
          Map<Integer, long[]> base = atSwitch.getOrDefault(id, Map.of());
          for (int i = 0; i < moeLayers.size(); i++) {
            long[] now = layers.get(moeLayers.get(i));
            if (now == null) {
              continue;
            }
            long[] before = base.get(moeLayers.get(i));
            for (int e = 0; e < Math.min(experts, now.length); e++) {
              w[i][e] += now[e] - (before == null || e >= before.length ? 0 : before[e]);
            }
          }
        });
    return w;
  }

  /** Starts a new window: what was reported so far counts no more. */
  public synchronized void switched() {
    atSwitch.clear();
    atSwitch.putAll(latest);
  }
}
