package io.disaggmoe.proto.spring;

import io.disaggmoe.proto.v1.ControlPlaneGrpc;
import io.disaggmoe.proto.v1.ExpertLoad;
import io.disaggmoe.proto.v1.ExpertLoadReport;
import io.disaggmoe.proto.v1.HeartbeatRequest;
import io.disaggmoe.proto.v1.Instance;
import io.disaggmoe.proto.v1.RegisterRequest;
import io.disaggmoe.proto.v1.RegisterResponse;
import io.disaggmoe.proto.wire.StageChannels;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import java.lang.System.Logger.Level;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.springframework.context.event.EventListener;
import org.springframework.grpc.server.lifecycle.GrpcServerStartedEvent;

/**
 * Keeps this stage registered with the control plane: it registers once its server listens, sends a
 * heartbeat every interval the plane asked for, and registers again when the plane does not know it
 * (the plane restarted, or the lease lapsed). While the plane is down the stage serves on, trying
 * again every second; nothing it serves depends on the plane being up.
 */
public final class ControlPlaneRegistration implements AutoCloseable {
  private static final System.Logger LOG =
      System.getLogger(ControlPlaneRegistration.class.getName());
  private static final long RETRY_MS = 1_000;

  private final String plane;
  private final String advertisedHost;
  private final int advertisedPort;
  private final StageChannels channels;
  private final InstanceDescription description;
  private final ScheduledExecutorService timer =
      Executors.newSingleThreadScheduledExecutor(
          Thread.ofPlatform().daemon().name("control-plane-lease").factory());
  private ManagedChannel channel;
  private String address;
  private boolean registered;
  private boolean warned;

  /**
   * @param plane the control plane's {@code host:port}; blank: this stage does not register
   * @param advertisedHost the host others reach this stage at; blank: this host's address
   * @param advertisedPort the port others reach this stage at (a port mapping or a proxy in front
   *     of it); 0: the port it listens on
   */
  public ControlPlaneRegistration(
      String plane,
      String advertisedHost,
      int advertisedPort,
      StageChannels channels,
      InstanceDescription d) {
    this.plane = plane;
    this.advertisedHost = advertisedHost;
    this.advertisedPort = advertisedPort;
    this.channels = channels;
    this.description = d;
  }

  @EventListener
  public synchronized void onStarted(GrpcServerStartedEvent event) {
    if (plane == null || plane.isBlank() || channel != null) {
      return;
    }
    address = host() + ":" + (advertisedPort > 0 ? advertisedPort : event.getPort());
    channel = channels.open(plane, StageChannels.Kind.CALLS);
    timer.execute(this::beat);
  }

  private String host() {
    if (advertisedHost != null && !advertisedHost.isBlank()) {
      return advertisedHost;
    }
    try {
      return InetAddress.getLocalHost().getHostAddress();
    } catch (UnknownHostException e) {
      return "127.0.0.1";
    }
  }

  /** As the stage describes itself now: a pool's placement changes when the plane moves experts. */
  private Instance instance() {
    Instance.Builder b = description.describe().setAddress(address);
    return b.setId(b.getRole().name().replace("ROLE_", "").toLowerCase() + "/" + address).build();
  }

  private void beat() {
    long next = RETRY_MS;
    Instance instance = instance();
    try {
      var stub = ControlPlaneGrpc.newBlockingStub(channel).withDeadlineAfter(5, TimeUnit.SECONDS);
      if (!registered) {
        RegisterResponse r =
            stub.register(RegisterRequest.newBuilder().setInstance(instance).build());
        registered = true;
        next = r.getHeartbeatIntervalMs();
      } else {
        HeartbeatRequest.Builder hb = HeartbeatRequest.newBuilder().setInstanceId(instance.getId());
        description.report(hb);
        boolean unknown = stub.heartbeat(hb.build()).getUnknown();
        ExpertLoad load = unknown ? null : description.expertLoad();
        if (load != null) {
          stub.reportExpertLoad(
              ExpertLoadReport.newBuilder().setInstanceId(instance.getId()).setLoad(load).build());
        }
        registered = !unknown;
        next = unknown ? 0 : next;
      }
      if (warned) {
        LOG.log(
            Level.INFO, "control plane {0} reached again; {1} registered", plane, instance.getId());
        warned = false;
      }
    } catch (StatusRuntimeException e) {
      registered = false;
      // Without this the channel waits out its reconnect backoff (up to minutes, growing with each
      // failure) however often we retry: a restarted plane saw instances back up to 16 s late,
      // past the lease for which watchers keep the instances they knew.
      channel.resetConnectBackoff();
      if (!warned) {
        LOG.log(
            Level.WARNING,
            "control plane {0} not reached ({1}); serving on, trying every second",
            plane,
            e.getStatus());
        warned = true;
      }
    }
    if (!timer.isShutdown()) {
      timer.schedule(this::beat, Math.max(next, 1), TimeUnit.MILLISECONDS);
    }
  }

  @Override
  public synchronized void close() {
    timer.shutdownNow();
    if (channel != null) {
      channel.shutdownNow();
    }
  }
}
