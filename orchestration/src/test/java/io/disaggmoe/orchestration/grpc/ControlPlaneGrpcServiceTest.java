package io.disaggmoe.orchestration.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.disaggmoe.orchestration.core.Registry;
import io.disaggmoe.orchestration.rebalance.ExpertLoadLedger;
import io.disaggmoe.orchestration.rebalance.Rebalancer;
import io.disaggmoe.orchestration.scaling.ScalingAdvisor;
import io.disaggmoe.orchestration.scaling.ScalingTargets;
import io.disaggmoe.proto.v1.ControlPlaneGrpc;
import io.disaggmoe.proto.v1.GetScalingSignalsRequest;
import io.disaggmoe.proto.v1.GetTopologyRequest;
import io.disaggmoe.proto.v1.HeartbeatRequest;
import io.disaggmoe.proto.v1.Instance;
import io.disaggmoe.proto.v1.RebalanceRequest;
import io.disaggmoe.proto.v1.RegisterRequest;
import io.disaggmoe.proto.v1.Role;
import io.disaggmoe.proto.v1.StageSignal;
import io.disaggmoe.proto.v1.Topology;
import io.disaggmoe.proto.wire.StageChannels;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The plane's gRPC face on an in-process transport: register, heartbeat, watch. */
class ControlPlaneGrpcServiceTest {
  private final AtomicLong now = new AtomicLong();
  private final Registry registry = new Registry(3_000, now::get);
  private final ExpertLoadLedger ledger = new ExpertLoadLedger();
  private final Rebalancer rebalancer =
      new Rebalancer(registry, ledger, StageChannels.plaintext(), 1.25, 1, Duration.ofSeconds(1));
  private Server server;
  private ManagedChannel channel;
  private ControlPlaneGrpcService service;

  @BeforeEach
  void start() throws Exception {
    String name = InProcessServerBuilder.generateName();
    service =
        new ControlPlaneGrpcService(
            registry,
            1_000,
            ledger,
            rebalancer,
            new ScalingAdvisor(registry, ScalingTargets.defaults()));
    server = InProcessServerBuilder.forName(name).addService(service).build().start();
    channel = InProcessChannelBuilder.forName(name).build();
  }

  @AfterEach
  void stop() throws Exception {
    rebalancer.close();
    channel.shutdownNow();
    server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }

  static Instance decode(String address) {
    return Instance.newBuilder()
        .setId("decode/" + address)
        .setRole(Role.ROLE_DECODE)
        .setAddress(address)
        .build();
  }

  @Test
  void watchersSeeInstancesComeAndTheirLeasesLapse() throws Exception {
    BlockingQueue<Topology> seen = new LinkedBlockingQueue<>();
    ControlPlaneGrpc.newStub(channel)
        .watchTopology(
            GetTopologyRequest.getDefaultInstance(),
            new StreamObserver<>() {
              @Override
              public void onNext(Topology t) {
                seen.add(t);
              }

              @Override
              public void onError(Throwable t) {}

              @Override
              public void onCompleted() {}
            });
    assertThat(seen.poll(5, TimeUnit.SECONDS).getInstancesCount()).isZero();
    var stub = ControlPlaneGrpc.newBlockingStub(channel);
    var lease = stub.register(RegisterRequest.newBuilder().setInstance(decode("h:1")).build());
    assertThat(lease.getHeartbeatIntervalMs()).isEqualTo(1_000);
    assertThat(lease.getLeaseMs()).isEqualTo(3_000);
    assertThat(seen.poll(5, TimeUnit.SECONDS).getInstancesList()).containsExactly(decode("h:1"));
    now.addAndGet(4_000);
    assertThat(
            stub.heartbeat(HeartbeatRequest.newBuilder().setInstanceId("decode/h:1").build())
                .getUnknown())
        .as("a heartbeat after the lease lapsed")
        .isTrue();
    assertThat(seen.poll(5, TimeUnit.SECONDS).getInstancesCount()).isZero();
    assertThat(stub.getTopology(GetTopologyRequest.getDefaultInstance()).getVersion()).isEqualTo(2);
  }

  @Test
  void aStoppingPlaneEndsEveryWatchWithUnavailable() throws Exception {
    BlockingQueue<Object> heard = new LinkedBlockingQueue<>();
    ControlPlaneGrpc.newStub(channel)
        .watchTopology(
            GetTopologyRequest.getDefaultInstance(),
            new StreamObserver<>() {
              @Override
              public void onNext(Topology t) {
                heard.add(t);
              }

              @Override
              public void onError(Throwable t) {
                heard.add(Status.fromThrowable(t));
              }

              @Override
              public void onCompleted() {
                heard.add("completed");
              }
            });
    assertThat(heard.poll(5, TimeUnit.SECONDS)).isInstanceOf(Topology.class);
    ControlPlaneGrpc.newBlockingStub(channel)
        .register(RegisterRequest.newBuilder().setInstance(decode("h:1")).build());
    assertThat(heard.poll(5, TimeUnit.SECONDS)).isInstanceOf(Topology.class);
    service.stop();
    Object end = heard.poll(5, TimeUnit.SECONDS);
    assertThat(end).as("what the watcher heard on stop").isInstanceOf(Status.class);
    assertThat(((Status) end).getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    // No lease lapses afterwards, and nobody hears of one.
    now.addAndGet(10_000);
    registry.expireNow();
    assertThat(registry.topology().getInstancesList()).containsExactly(decode("h:1"));
    assertThat(heard.poll(200, TimeUnit.MILLISECONDS)).isNull();
  }

  @Test
  void desiredReplicasFollowALoadStep() {
    var stub = ControlPlaneGrpc.newBlockingStub(channel);
    stub.register(RegisterRequest.newBuilder().setInstance(decode("h:1")).build());
    stub.register(RegisterRequest.newBuilder().setInstance(decode("h:2")).build());
    assertThat(decodeSignal(stub).getDesiredReplicas()).as("idle").isEqualTo(1);
    // Each replica at 2.5x the waiting-request target (4) and its p90 TPOT at 1.5x (200 ms).
    for (String id : new String[] {"decode/h:1", "decode/h:2"}) {
      stub.heartbeat(
          HeartbeatRequest.newBuilder()
              .setInstanceId(id)
              .setQueuedRequests(10)
              .setRunningRequests(64)
              .setKvUsedFraction(0.5)
              .setLatencyP90Ms(300)
              .build());
    }
    StageSignal loaded = decodeSignal(stub);
    assertThat(loaded.getReplicas()).isEqualTo(2);
    assertThat(loaded.getQueuedRequests()).isEqualTo(20);
    assertThat(loaded.getLatencyP90Ms()).isEqualTo(300);
    assertThat(loaded.getDesiredReplicas())
        .as("2 replicas x pressure 2.5, capped at 2x")
        .isEqualTo(4);
  }

  private static StageSignal decodeSignal(ControlPlaneGrpc.ControlPlaneBlockingStub stub) {
    return stub
        .getScalingSignals(GetScalingSignalsRequest.getDefaultInstance())
        .getStagesList()
        .stream()
        .filter(s -> s.getRole() == Role.ROLE_DECODE)
        .findFirst()
        .orElseThrow();
  }

  @Test
  void rebalancingWithoutPoolsSaysWhy() {
    var r =
        ControlPlaneGrpc.newBlockingStub(channel)
            .rebalance(RebalanceRequest.newBuilder().setForce(true).build());
    assertThat(r.getSwitched()).isFalse();
    assertThat(r.getReason()).contains("no expert pools");
  }

  @Test
  void aRegistrationWithoutAnAddressIsInvalid() {
    var stub = ControlPlaneGrpc.newBlockingStub(channel);
    assertThatThrownBy(
            () ->
                stub.register(
                    RegisterRequest.newBuilder()
                        .setInstance(Instance.newBuilder().setId("x").setRole(Role.ROLE_DECODE))
                        .build()))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT));
  }
}
