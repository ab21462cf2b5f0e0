package io.disaggmoe.orchestration.rebalance;

import io.disaggmoe.orchestration.core.Registry;
import io.disaggmoe.orchestration.placement.ExpertPlacementPlan;
import io.disaggmoe.orchestration.placement.ExpertPlacementPlanner;
import io.disaggmoe.proto.PlacementLayers;
import io.disaggmoe.proto.v1.Instance;
import io.disaggmoe.proto.v1.Placement;
import io.disaggmoe.proto.v1.RebalanceResponse;
import io.disaggmoe.proto.v1.Role;
import io.disaggmoe.proto.v1.Topology;
import io.disaggmoe.proto.wire.StageChannels;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SortedMap;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Consumer;

/**
 * The plane's hand on expert placement. On request (or on a timer) it plans from the load pools
 * reported since the last switch (EPLB: redundant copies of hot experts under each pool's slots)
 * and switches live when that evens the pools enough. When a pool leaves the topology and some
 * experts are then held by no pool, it gives them to the remaining pools at once.
 */
public final class Rebalancer implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger(Rebalancer.class.getName());

  private final Registry registry;
  private final ExpertLoadLedger ledger;
  private final PlacementSwitch switcher;
  private final double threshold;
  private final int spareSlots;
  private final ExecutorService worker =
      Executors.newSingleThreadExecutor(Thread.ofPlatform().daemon().name("rebalancer").factory());
  private final Consumer<Topology> watcher = this::onTopology;
  private Set<String> pools = Set.of();
  private long seenVersion = -1;

  /**
   * @param threshold rebalance (unless forced) only when the heaviest pool carries at least this
   *     many times the mean pool's tokens
   * @param spareSlots expert slots per pool beyond its share of the experts (for copies of hot
   *     experts)
   * @param routingWait how long to wait for attention instances to route by a new placement
   */
  public Rebalancer(
      Registry registry,
      ExpertLoadLedger ledger,
      StageChannels channels,
      double threshold,
      int spareSlots,
      Duration routingWait) {
    this.registry = registry;
    this.ledger = ledger;
    this.threshold = threshold;
    this.spareSlots = spareSlots;
    this.switcher = new PlacementSwitch(registry, channels, Duration.ofMinutes(2), routingWait);
    registry.watch(watcher);
  }

  /** The pools of the one model served, sorted by id; empty when none or several models. */
  private static List<Instance> pools(Topology t) {
    List<Instance> pools =
        t.getInstancesList().stream()
            .filter(i -> i.getRole() == Role.ROLE_EXPERT_POOL)
            .sorted(Comparator.comparing(Instance::getId))
            .toList();
    long models = pools.stream().map(Instance::getModelId).distinct().count();
    return models == 1 ? pools : List.of();
  }

  /**
   * Plans from the load reported since the last switch and, when {@code force} or the plan evens
   * the pools enough, switches to it.
   */
  public synchronized RebalanceResponse rebalance(boolean force) throws InterruptedException {
    List<Instance> live = pools(registry.topology());
    if (live.isEmpty()) {
      return notSwitched("no expert pools of one model are registered");
    }
    Placement any = live.get(0).getPlacement();
    List<Integer> moeLayers = any.getMoeLayersList();
    int experts = any.getRoutedExperts();
    if (experts == 0 || moeLayers.isEmpty()) {
      return notSwitched("the pools do not state their model's experts and MoE layers");
    }
    long[][] load = ledger.window(moeLayers, experts);
    boolean none = Arrays.stream(load).flatMapToLong(Arrays::stream).allMatch(x -> x == 0);
    if (none && !force) {
      return notSwitched("no expert load reported since the last switch");
    }
    PoolPlacements.Placements current = current(live);
    int perPool = Math.min(experts, (experts + live.size() - 1) / live.size() + spareSlots);
    long[][] weight = load;
    if (none) {
      weight = new long[moeLayers.size()][experts];
      for (long[] w : weight) {
        Arrays.fill(w, 1);
      }
    }
    ExpertPlacementPlan plan =
        ExpertPlacementPlanner.plan(weight, perPool * live.size(), 1, 1, live.size());
    PoolPlacements.Placements target =
        PoolPlacements.of(plan, moeLayers, live.stream().map(Instance::getId).toList());
    double before = PoolPlacements.maxOverMean(current, weight, moeLayers);
    double after = PoolPlacements.maxOverMean(target, weight, moeLayers);
    if (!force && before < threshold) {
      return notSwitched(before, after, "max/mean pool load is under the threshold " + threshold);
    }
    if (!force && after > before * 0.95) {
      return notSwitched(before, after, "the plan would not even the pools by 5% or more");
    }
    PlacementSwitch.Done done = switcher.run(live, target, true);
    ledger.switched();
    LOG.log(
        Level.INFO,
        "rebalanced {0} pools to placement {1} in {2} ms: max/mean pool load {3} -> {4}",
        live.size(),
        done.version(),
        done.millis(),
        before,
        after);
    return RebalanceResponse.newBuilder()
        .setSwitched(true)
        .setReason(done.note())
        .setVersion(done.version())
        .setMaxOverMeanBefore(before)
        .setMaxOverMeanAfter(after)
        .setSwitchMs(done.millis())
        .build();
  }

  /**
   * Gives every expert that no registered pool holds to one of them (the hottest to the least
   * loaded); returns null when each already has a holder.
   */
  public synchronized RebalanceResponse coverOrphans() throws InterruptedException {
    List<Instance> live = pools(registry.topology());
    if (live.isEmpty()) {
      return null;
    }
    Placement any = live.get(0).getPlacement();
    List<Integer> moeLayers = any.getMoeLayersList();
    int experts = any.getRoutedExperts();
    PoolPlacements.Placements current = current(live);
    long[][] load = ledger.window(moeLayers, experts);
    PoolPlacements.Placements target =
        PoolPlacements.coverOrphans(current, load, moeLayers, experts);
    if (target.equals(current)) {
      return null;
    }
    target.keySet().removeIf(id -> target.get(id).equals(current.get(id)));
    List<Instance> changed = live.stream().filter(i -> target.containsKey(i.getId())).toList();
    PlacementSwitch.Done done = switcher.run(changed, target, false);
    LOG.log(
        Level.WARNING,
        "experts held by no live pool were placed on {0} in {1} ms (placement {2})",
        target.keySet(),
        done.millis(),
        done.version());
    return RebalanceResponse.newBuilder()
        .setSwitched(true)
        .setReason("re-placed the experts of pools that left on " + target.keySet())
        .setVersion(done.version())
        .setSwitchMs(done.millis())
        .build();
  }

  /** A pool left: cover its experts, off the registry's thread. */
  private void onTopology(Topology t) {
    Set<String> now = new HashSet<>();
    pools(t).forEach(p -> now.add(p.getId()));
    boolean left;
    synchronized (watcher) {
      // Changes are announced outside the registry's lock: an older one may come late.
      if (t.getVersion() <= seenVersion) {
        return;
      }
      seenVersion = t.getVersion();
      left = !now.containsAll(pools);
      pools = now;
    }
    if (left && !worker.isShutdown()) {
      worker.execute(
          () -> {
            try {
              coverOrphans();
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
            } catch (RuntimeException e) {
              LOG.log(Level.WARNING, "re-placing the experts of a pool that left failed", e);
            }
          });
    }
  }

  /** Rebalances when the load calls for it; for a timer. */
  public void rebalanceIfUneven() {
    try {
      RebalanceResponse r = rebalance(false);
      if (!r.getSwitched()) {
        LOG.log(Level.DEBUG, "no rebalancing: {0}", r.getReason());
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (RuntimeException e) {
      LOG.log(Level.WARNING, "rebalancing failed", e);
    }
  }

  static PoolPlacements.Placements current(List<Instance> pools) {
    PoolPlacements.Placements current = new PoolPlacements.Placements();
    for (Instance i : pools) {
      SortedMap<Integer, SortedSet<Integer>> layers = new TreeMap<>();
      PlacementLayers.of(i.getPlacement()).forEach((l, e) -> layers.put(l, new TreeSet<>(e)));
      current.put(i.getId(), layers);
    }
    return current;
  }

  private static RebalanceResponse notSwitched(String reason) {
    return RebalanceResponse.newBuilder().setReason(reason).build();
  }

  private static RebalanceResponse notSwitched(double before, double after, String reason) {
    return RebalanceResponse.newBuilder()
        .setReason(reason)
        .setMaxOverMeanBefore(before)
        .setMaxOverMeanAfter(after)
        .build();
  }

  @Override
  public void close() {
    registry.unwatch(watcher);
    worker.shutdownNow();
    switcher.close();
  }
}
