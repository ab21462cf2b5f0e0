package io.disaggmoe.proto.spring;

import io.disaggmoe.proto.v1.ControlPlaneGrpc;
import io.disaggmoe.proto.v1.GetTopologyRequest;
import io.disaggmoe.proto.v1.Instance;
import io.disaggmoe.proto.v1.Topology;
import io.disaggmoe.proto.wire.StageChannels;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import java.lang.System.Logger.Level;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Follows the control plane's topology ({@code WatchTopology}) and hands each change to a listener,
 * so that a gateway or an attention instance stops sending to a removed instance at once and takes
 * up new ones. While the plane is down the last topology stands; the stream is opened again every
 * second. A plane that restarted (another epoch) knows only the instances that registered with it
 * so far: for one lease the listener gets the previous instances too, which by then have registered
 * again or are gone.
 */
public final class TopologyWatch implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger(TopologyWatch.class.getName());
  private static final long RETRY_MS = 1_000;

  private final String plane;
  private final Consumer<Topology> listener;
  private final ManagedChannel channel;
  private final ScheduledExecutorService later =
      Executors.newSingleThreadScheduledExecutor(
          Thread.ofPlatform().daemon().name("topology-grace").factory());
  private final Thread reader;
  private volatile boolean closed;

  // Guarded by this.
  private String epoch;
  private long graceUntil;
  private boolean inGrace;
  private Topology shown;
  private Topology latest;

  /** Starts following {@code plane} ({@code host:port}). */
  public TopologyWatch(String plane, StageChannels channels, Consumer<Topology> listener) {
    this.plane = plane;
    this.listener = listener;
    this.channel = channels.open(plane, StageChannels.Kind.CALLS);
    this.reader = Thread.ofVirtual().name("topology-watch").start(this::follow);
  }

  private void follow() {
    boolean warned = false;
    while (!closed) {
      try {
        Iterator<Topology> changes =
            ControlPlaneGrpc.newBlockingStub(channel)
                .watchTopology(GetTopologyRequest.getDefaultInstance());
        while (changes.hasNext()) {
          receive(changes.next());
          warned = false;
        }
      } catch (StatusRuntimeException e) {
        // Retry the connection itself each time, not after the channel's growing backoff.
        channel.resetConnectBackoff();
        if (!warned && !closed) {
          LOG.log(
              Level.WARNING,
              "topology watch on {0} broke ({1}); routing by the last topology, retrying",
              plane,
              e.getStatus());
          warned = true;
        }
      }
      try {
        Thread.sleep(RETRY_MS);
      } catch (InterruptedException e) {
        return;
      }
    }
  }

  private synchronized void receive(Topology t) {
    if (!t.getEpoch().equals(epoch)) {
      if (epoch != null) {
        graceUntil = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(t.getLeaseMs());
        inGrace = true;
        later.schedule(this::graceOver, t.getLeaseMs(), TimeUnit.MILLISECONDS);
      }
      epoch = t.getEpoch();
    }
    latest = t;
    show(inGrace && shown != null ? withKept(t, shown) : t);
  }

  /** The lease after the latest restart has passed: the plane's own topology from now on. */
  private synchronized void graceOver() {
    long left = graceUntil - System.nanoTime();
    if (left > 0) {
      // Another restart moved the end on; its own call comes later.
      return;
    }
    inGrace = false;
    show(latest);
  }

  /** {@code t} plus the instances of {@code before} it does not name (yet). */
  private static Topology withKept(Topology t, Topology before) {
    Map<String, Instance> all = new LinkedHashMap<>();
    t.getInstancesList().forEach(i -> all.put(i.getId(), i));
    before.getInstancesList().forEach(i -> all.putIfAbsent(i.getId(), i));
    return t.toBuilder().clearInstances().addAllInstances(all.values()).build();
  }

  private void show(Topology t) {
    shown = t;
    try {
      listener.accept(t);
    } catch (RuntimeException e) {
      LOG.log(Level.WARNING, "topology " + t.getVersion() + " could not be applied", e);
    }
  }

  @Override
  public void close() {
    closed = true;
    reader.interrupt();
    later.shutdownNow();
    channel.shutdownNow();
  }
}
