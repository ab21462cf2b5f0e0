package io.disaggmoe.orchestration.grpc;

import io.disaggmoe.orchestration.core.Registry;
import io.disaggmoe.orchestration.rebalance.ExpertLoadLedger;
import io.disaggmoe.orchestration.rebalance.Rebalancer;
import io.disaggmoe.orchestration.scaling.ScalingAdvisor;
import io.disaggmoe.proto.v1.ControlPlaneGrpc;
import io.disaggmoe.proto.v1.ExpertLoadReport;
import io.disaggmoe.proto.v1.GetScalingSignalsRequest;
import io.disaggmoe.proto.v1.GetTopologyRequest;
import io.disaggmoe.proto.v1.HeartbeatRequest;
import io.disaggmoe.proto.v1.HeartbeatResponse;
import io.disaggmoe.proto.v1.RebalanceRequest;
import io.disaggmoe.proto.v1.RebalanceResponse;
import io.disaggmoe.proto.v1.RegisterRequest;
import io.disaggmoe.proto.v1.RegisterResponse;
import io.disaggmoe.proto.v1.ReportExpertLoadResponse;
import io.disaggmoe.proto.v1.ScalingSignals;
import io.disaggmoe.proto.v1.Topology;
import io.disaggmoe.proto.wire.GrpcStatuses;
import io.disaggmoe.proto.wire.ParseFailures;
import io.disaggmoe.proto.wire.ReadyGatedStream;
import io.grpc.BindableService;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;

/** The control plane's gRPC face over its {@link Registry}. */
public final class ControlPlaneGrpcService
    implements ControlPlaneGrpc.AsyncService, BindableService {
  /** A watcher further behind than this in reading topologies is cut off. */
  static final long WATCH_LIMIT_BYTES = 16L << 20;

  private final Registry registry;
  private final long heartbeatMillis;
  private final ExpertLoadLedger ledger;
  private final Rebalancer rebalancer;
  private final ScalingAdvisor scaling;

  public ControlPlaneGrpcService(
      Registry registry,
      long heartbeatMillis,
      ExpertLoadLedger ledger,
      Rebalancer rebalancer,
      ScalingAdvisor scaling) {
    this.registry = registry;
    this.heartbeatMillis = heartbeatMillis;
    this.ledger = ledger;
    this.rebalancer = rebalancer;
    this.scaling = scaling;
  }

  @Override
  public ServerServiceDefinition bindService() {
    return ParseFailures.asInvalidArgument(ControlPlaneGrpc.bindService(this));
  }

  @Override
  public void register(RegisterRequest r, StreamObserver<RegisterResponse> out) {
    try {
      registry.register(r.getInstance());
      out.onNext(
          RegisterResponse.newBuilder()
              .setHeartbeatIntervalMs(heartbeatMillis)
              .setLeaseMs(registry.leaseMillis())
              .build());
      out.onCompleted();
    } catch (RuntimeException e) {
      out.onError(GrpcStatuses.toStatus(e).asRuntimeException());
    }
  }

  @Override
  public void heartbeat(HeartbeatRequest r, StreamObserver<HeartbeatResponse> out) {
    boolean known = registry.heartbeat(r);
    out.onNext(HeartbeatResponse.newBuilder().setUnknown(!known).build());
    out.onCompleted();
  }

  @Override
  public void getTopology(GetTopologyRequest r, StreamObserver<Topology> out) {
    out.onNext(registry.topology());
    out.onCompleted();
  }

  /** The topology now, then each newer one; a watcher too slow to read them is cut off. */
  @Override
  public void watchTopology(GetTopologyRequest r, StreamObserver<Topology> plainOut) {
    ServerCallStreamObserver<Topology> out = (ServerCallStreamObserver<Topology>) plainOut;
    Watcher watcher = new Watcher(out);
    out.setOnCancelHandler(
        () -> {
          registry.unwatch(watcher);
          watchers.remove(watcher);
        });
    watchers.add(watcher);
    registry.watch(watcher);
  }

  private final Set<Watcher> watchers = ConcurrentHashMap.newKeySet();

  /**
   * The plane is stopping (its server is about to refuse new calls and wait for those running): the
   * registry freezes, and every watch ends now with UNAVAILABLE, so watchers keep routing by the
   * last topology they had and reconnect, instead of hearing of the leases that lapse while the
   * plane can no longer receive heartbeats.
   */
  public void stop() {
    registry.close();
    for (Watcher w : watchers) {
      registry.unwatch(w);
      w.stream.fail(Status.UNAVAILABLE.withDescription("the control plane is stopping"));
    }
    watchers.clear();
  }

  /** One WatchTopology stream: sends each topology newer than the last it sent. */
  private final class Watcher implements Consumer<Topology> {
    private final ReadyGatedStream<Topology> stream;
    private long sent = -1;

    Watcher(ServerCallStreamObserver<Topology> out) {
      this.stream =
          new ReadyGatedStream<>(
              out, WATCH_LIMIT_BYTES, "the watcher", () -> registry.unwatch(this));
    }

    @Override
    public synchronized void accept(Topology t) {
      // Changes are announced outside the registry's lock: never send an older one.
      if (t.getVersion() > sent) {
        sent = t.getVersion();
        stream.send(t);
      }
    }
  }

  /**
   * Kept for the next rebalancing; the answer never carries a placement, since the plane moves
   * pools itself (SetPlacement) in the order a live switch needs.
   */
  @Override
  public void reportExpertLoad(ExpertLoadReport r, StreamObserver<ReportExpertLoadResponse> out) {
    ledger.report(r.getInstanceId(), r.getLoad());
    out.onNext(ReportExpertLoadResponse.getDefaultInstance());
    out.onCompleted();
  }

  /** A switch waits for pools to load experts: it runs on a virtual thread of its own. */
  @Override
  public void rebalance(RebalanceRequest r, StreamObserver<RebalanceResponse> out) {
    Thread.ofVirtual()
        .name("rebalance")
        .start(
            () -> {
              try {
                out.onNext(rebalancer.rebalance(r.getForce()));
                out.onCompleted();
              } catch (InterruptedException e) {
                out.onError(Status.CANCELLED.withDescription("interrupted").asRuntimeException());
              } catch (RuntimeException e) {
                out.onError(GrpcStatuses.toStatus(e).asRuntimeException());
              }
            });
  }

  @Override
  public void getScalingSignals(GetScalingSignalsRequest r, StreamObserver<ScalingSignals> out) {
    out.onNext(scaling.signals());
    out.onCompleted();
  }
}
