package io.disaggmoe.orchestration.grpc;

import io.disaggmoe.orchestration.core.Registry;
import io.disaggmoe.proto.v1.ControlPlaneGrpc;
import io.disaggmoe.proto.v1.ExpertLoadReport;
import io.disaggmoe.proto.v1.GetTopologyRequest;
import io.disaggmoe.proto.v1.HeartbeatRequest;
import io.disaggmoe.proto.v1.HeartbeatResponse;
import io.disaggmoe.proto.v1.RegisterRequest;
import io.disaggmoe.proto.v1.RegisterResponse;
import io.disaggmoe.proto.v1.ReportExpertLoadResponse;
import io.disaggmoe.proto.v1.Topology;
import io.disaggmoe.proto.wire.GrpcStatuses;
import io.disaggmoe.proto.wire.ParseFailures;
import io.disaggmoe.proto.wire.ReadyGatedStream;
import io.grpc.BindableService;
import io.grpc.ServerServiceDefinition;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.function.Consumer;

/** The control plane's gRPC face over its {@link Registry}. */
public final class ControlPlaneGrpcService
    implements ControlPlaneGrpc.AsyncService, BindableService {
  /** A watcher further behind than this in reading topologies is cut off. */
  static final long WATCH_LIMIT_BYTES = 16L << 20;

  private final Registry registry;
  private final long heartbeatMillis;

  public ControlPlaneGrpcService(Registry registry, long heartbeatMillis) {
    this.registry = registry;
    this.heartbeatMillis = heartbeatMillis;
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
    boolean known = registry.heartbeat(r.getInstanceId());
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
    out.setOnCancelHandler(() -> registry.unwatch(watcher));
    registry.watch(watcher);
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

  /** Accepted and answered with no new placement: live rebalancing is not built yet. */
  @Override
  public void reportExpertLoad(ExpertLoadReport r, StreamObserver<ReportExpertLoadResponse> out) {
    out.onNext(ReportExpertLoadResponse.getDefaultInstance());
    out.onCompleted();
  }
}
