package io.disaggmoe.orchestration.core;

import io.disaggmoe.proto.v1.HeartbeatRequest;
import io.disaggmoe.proto.v1.Instance;
import io.disaggmoe.proto.v1.Placement;
import io.disaggmoe.proto.v1.Topology;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import java.util.function.LongSupplier;

/**
 * Who is up: every instance that registered and keeps its lease by heartbeat. A lease lapses when
 * no heartbeat came for {@code leaseMillis}; the instance is then removed and watchers hear of it
 * at once. The plane keeps no state beyond this: after a restart it is rebuilt from the instances
 * registering again (a heartbeat it does not know tells the instance to).
 */
public final class Registry {
  private final long leaseMillis;
  private final LongSupplier clockMillis;
  private final Map<String, Entry> entries = new LinkedHashMap<>();
  private final List<Consumer<Topology>> watchers = new CopyOnWriteArrayList<>();
  private long version;
  private boolean closed;
  private final String epoch = java.util.UUID.randomUUID().toString();

  private static final class Entry {
    Instance instance;
    long expiresAt;
    HeartbeatRequest report = HeartbeatRequest.getDefaultInstance();

    Entry(Instance instance, long expiresAt) {
      this.instance = instance;
      this.expiresAt = expiresAt;
    }
  }

  public Registry(long leaseMillis, LongSupplier clockMillis) {
    if (leaseMillis < 1) {
      throw new IllegalArgumentException("a lease must last at least 1 ms, got " + leaseMillis);
    }
    this.leaseMillis = leaseMillis;
    this.clockMillis = clockMillis;
  }

  public long leaseMillis() {
    return leaseMillis;
  }

  /**
   * Adds or replaces {@code instance} (by id), leased from now.
   *
   * @throws IllegalArgumentException when it has no id, role or address
   */
  public void register(Instance instance) {
    if (instance.getId().isEmpty() || instance.getAddress().isEmpty()) {
      throw new IllegalArgumentException("an instance needs an id and an address");
    }
    if (instance.getRoleValue() == 0) {
      throw new IllegalArgumentException("instance " + instance.getId() + " has no role");
    }
    Topology lapsed;
    Topology changed;
    synchronized (this) {
      lapsed = expire();
      Entry old = entries.put(instance.getId(), new Entry(instance, now() + leaseMillis));
      changed = old != null && old.instance.equals(instance) ? null : snapshot(++version);
    }
    notify(lapsed);
    notify(changed);
  }

  /** Renews the lease; false when the instance is not (or no longer) registered. */
  public boolean heartbeat(String id) {
    return heartbeat(HeartbeatRequest.newBuilder().setInstanceId(id).build());
  }

  /**
   * Renews the lease of the instance {@code beat} names and keeps what it reported (load, routed
   * topology); false when the instance is not (or no longer) registered.
   */
  public boolean heartbeat(HeartbeatRequest beat) {
    Topology changed;
    boolean known;
    synchronized (this) {
      changed = expire();
      Entry e = entries.get(beat.getInstanceId());
      known = e != null;
      if (known) {
        e.expiresAt = now() + leaseMillis;
        e.report = beat;
      }
    }
    notify(changed);
    return known;
  }

  /** Removes the instances whose lease lapsed; watchers hear of it. */
  public void expireNow() {
    Topology changed;
    synchronized (this) {
      changed = expire();
    }
    notify(changed);
  }

  /** The latest heartbeat of each registered instance, by id (empty before its first). */
  public synchronized Map<String, HeartbeatRequest> reports() {
    Map<String, HeartbeatRequest> all = new LinkedHashMap<>();
    entries.forEach((id, e) -> all.put(id, e.report));
    return all;
  }

  /**
   * Gives the registered instances named in {@code placements} (by id) these placements, as one
   * topology change; returns its version. Ids no longer registered are skipped.
   */
  public long place(Map<String, Placement> placements) {
    Topology lapsed;
    Topology changed;
    synchronized (this) {
      lapsed = expire();
      placements.forEach(
          (id, p) -> {
            Entry e = entries.get(id);
            if (e != null) {
              e.instance = e.instance.toBuilder().setPlacement(p).build();
            }
          });
      changed = snapshot(++version);
    }
    notify(lapsed);
    notify(changed);
    return changed.getVersion();
  }

  public Topology topology() {
    Topology lapsed;
    Topology now;
    synchronized (this) {
      lapsed = expire();
      now = snapshot(version);
    }
    notify(lapsed);
    return now;
  }

  /** Calls {@code watcher} with the topology now and after every change, until {@link #unwatch}. */
  public void watch(Consumer<Topology> watcher) {
    watchers.add(watcher);
    watcher.accept(topology());
  }

  public void unwatch(Consumer<Topology> watcher) {
    watchers.remove(watcher);
  }

  /**
   * The plane is stopping: from now on no lease lapses and no watcher hears of a change. Its
   * listener is closed, so heartbeats no longer reach it, and a topology that dropped instances for
   * that would send its watchers' routing away from instances that are up.
   */
  public synchronized void close() {
    closed = true;
  }

  /** The topology after removing lapsed leases, or null when none lapsed. */
  private Topology expire() {
    if (closed) {
      return null;
    }
    long now = now();
    boolean removed = entries.values().removeIf(e -> e.expiresAt <= now);
    return removed ? snapshot(++version) : null;
  }

  private Topology snapshot(long v) {
    List<Instance> all = new ArrayList<>();
    entries.values().forEach(e -> all.add(e.instance));
    return Topology.newBuilder()
        .setVersion(v)
        .addAllInstances(all)
        .setEpoch(epoch)
        .setLeaseMs(leaseMillis)
        .build();
  }

  /** Tells every watcher of {@code t}; nothing when it is null (no change). */
  private void notify(Topology t) {
    if (t == null || isClosed()) {
      return;
    }
    for (Consumer<Topology> w : watchers) {
      w.accept(t);
    }
  }

  private synchronized boolean isClosed() {
    return closed;
  }

  private long now() {
    return clockMillis.getAsLong();
  }
}
