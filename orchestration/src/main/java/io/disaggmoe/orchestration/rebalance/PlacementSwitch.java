package io.disaggmoe.orchestration.rebalance;

import io.disaggmoe.orchestration.core.Registry;
import io.disaggmoe.proto.PlacementLayers;
import io.disaggmoe.proto.errors.UnavailableException;
import io.disaggmoe.proto.v1.ExpertServiceGrpc;
import io.disaggmoe.proto.v1.HeartbeatRequest;
import io.disaggmoe.proto.v1.Instance;
import io.disaggmoe.proto.v1.Placement;
import io.disaggmoe.proto.v1.Role;
import io.disaggmoe.proto.v1.SetPlacementRequest;
import io.disaggmoe.proto.wire.StageChannels;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.SortedSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Moves a deployment to a new placement while requests run, in three steps: every pool loads the
 * experts it lacks (keeping the old ones, which attention instances still route to); the plane
 * publishes the new placement in its topology, and each attention instance takes it up at its next
 * forward pass; once every attention instance reports routing by it, pools drop the experts they no
 * longer hold. No dispatch finds its expert gone, so no request fails and none changes output.
 */
final class PlacementSwitch implements AutoCloseable {
  private final Registry registry;
  private final StageChannels channels;
  private final Duration callDeadline;
  private final Duration routingWait;
  private final Map<String, ManagedChannel> open = new HashMap<>();

  /** What a switch did. {@code dropped} is false when some instance did not take it up in time. */
  record Done(long version, long millis, boolean dropped, String note) {}

  PlacementSwitch(
      Registry registry, StageChannels channels, Duration callDeadline, Duration routingWait) {
    this.registry = registry;
    this.channels = channels;
    this.callDeadline = callDeadline;
    this.routingWait = routingWait;
  }

  /**
   * Switches the pools named in {@code target} (instance ids of {@code pools}) to it; with {@code
   * drop}, pools then hold only the target, else they keep what they held too.
   */
  Done run(List<Instance> pools, PoolPlacements.Placements target, boolean drop)
      throws InterruptedException {
    long started = System.nanoTime();
    long version = System.currentTimeMillis();
    Map<String, Instance> byId = new LinkedHashMap<>();
    pools.forEach(p -> byId.put(p.getId(), p));
    setAll(byId, target, version, false);
    Map<String, Placement> published = new LinkedHashMap<>();
    target.forEach((id, layers) -> published.put(id, placement(byId.get(id), layers, version)));
    long topology = registry.place(published);
    String modelId = pools.get(0).getModelId();
    List<String> behind = awaitRouting(topology, modelId);
    if (!behind.isEmpty()) {
      return new Done(
          version,
          (System.nanoTime() - started) / 1_000_000,
          false,
          "pools keep their old copies too: "
              + behind
              + " did not report routing by topology "
              + topology
              + " within "
              + routingWait.toMillis()
              + " ms");
    }
    if (drop) {
      setAll(byId, target, version, true);
    }
    return new Done(version, (System.nanoTime() - started) / 1_000_000, drop, "");
  }

  private void setAll(
      Map<String, Instance> byId, PoolPlacements.Placements target, long version, boolean drop) {
    List<CompletableFuture<Placement>> calls = new ArrayList<>();
    target.forEach(
        (id, layers) -> {
          Instance pool = byId.get(id);
          SetPlacementRequest.Builder r =
              SetPlacementRequest.newBuilder()
                  .setVersion(version)
                  .setDropOthers(drop)
                  .addAllLayers(PlacementLayers.toProto(layers));
          calls.add(
              CompletableFuture.supplyAsync(
                  () -> set(pool, r.build()), runnable -> Thread.ofVirtual().start(runnable)));
        });
    for (CompletableFuture<Placement> c : calls) {
      c.join();
    }
  }

  private Placement set(Instance pool, SetPlacementRequest r) {
    try {
      return ExpertServiceGrpc.newBlockingStub(channel(pool.getAddress()))
          .withDeadlineAfter(callDeadline.toMillis(), TimeUnit.MILLISECONDS)
          .setPlacement(r);
    } catch (StatusRuntimeException e) {
      throw new UnavailableException(
          "expert pool " + pool.getId() + " did not take its placement: " + e.getStatus());
    }
  }

  private synchronized ManagedChannel channel(String address) {
    return open.computeIfAbsent(address, a -> channels.open(a, StageChannels.Kind.CALLS));
  }

  /**
   * Waits until every attention instance of {@code modelId} that routes by the topology reports
   * {@code topology} or newer; returns those that did not within the wait.
   */
  private List<String> awaitRouting(long topology, String modelId) throws InterruptedException {
    long until = System.nanoTime() + routingWait.toNanos();
    while (true) {
      List<String> behind = new ArrayList<>();
      Map<String, HeartbeatRequest> reports = registry.reports();
      for (Instance i : registry.topology().getInstancesList()) {
        boolean attention = i.getRole() == Role.ROLE_PREFILL || i.getRole() == Role.ROLE_DECODE;
        HeartbeatRequest r = reports.get(i.getId());
        // 0: experts in process, or not routing by any topology yet (its pools' own placements,
        // which hold the union until the drop, and a newer topology comes before its next pass).
        if (attention
            && i.getModelId().equals(modelId)
            && r != null
            && r.getTopologyVersion() > 0
            && r.getTopologyVersion() < topology) {
          behind.add(i.getId());
        }
      }
      if (behind.isEmpty() || System.nanoTime() > until) {
        return behind;
      }
      Thread.sleep(10);
    }
  }

  /** {@code pool}'s placement as published: its own, with these experts per layer. */
  static Placement placement(
      Instance pool, SortedMap<Integer, SortedSet<Integer>> layers, long version) {
    java.util.SortedSet<Integer> all = new java.util.TreeSet<>();
    layers.values().forEach(all::addAll);
    return pool.getPlacement().toBuilder()
        .clearLayers()
        .clearExperts()
        .setVersion(version)
        .addAllLayers(PlacementLayers.toProto(layers))
        .addAllExperts(all)
        .build();
  }

  @Override
  public synchronized void close() {
    open.values().forEach(ManagedChannel::shutdownNow);
  }
}
