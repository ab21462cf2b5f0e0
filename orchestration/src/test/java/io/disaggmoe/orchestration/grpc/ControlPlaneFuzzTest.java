package io.disaggmoe.orchestration.grpc;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.google.protobuf.MessageLite;
import io.disaggmoe.orchestration.core.Registry;
import io.disaggmoe.orchestration.rebalance.ExpertLoadLedger;
import io.disaggmoe.orchestration.rebalance.Rebalancer;
import io.disaggmoe.orchestration.scaling.ScalingAdvisor;
import io.disaggmoe.orchestration.scaling.ScalingTargets;
import io.disaggmoe.proto.testing.HostileCalls;
import io.disaggmoe.proto.testing.HostileMemory;
import io.disaggmoe.proto.testing.InProcessService;
import io.disaggmoe.proto.v1.ControlPlaneGrpc;
import io.disaggmoe.proto.v1.ExpertLoad;
import io.disaggmoe.proto.v1.ExpertLoadReport;
import io.disaggmoe.proto.v1.GetScalingSignalsRequest;
import io.disaggmoe.proto.v1.GetTopologyRequest;
import io.disaggmoe.proto.v1.HeartbeatRequest;
import io.disaggmoe.proto.v1.Instance;
import io.disaggmoe.proto.v1.LayerExperts;
import io.disaggmoe.proto.v1.LayerLoad;
import io.disaggmoe.proto.v1.Placement;
import io.disaggmoe.proto.v1.RebalanceRequest;
import io.disaggmoe.proto.v1.RegisterRequest;
import io.disaggmoe.proto.v1.Role;
import io.disaggmoe.proto.v1.Topology;
import io.disaggmoe.proto.wire.StageChannels;
import io.grpc.ManagedChannel;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * Hostile messages against the control plane: instances with empty or repeated ids, unknown roles,
 * addresses that do not parse, placements with layers and experts out of range, heartbeats and load
 * reports from instances that never registered, non-finite and negative figures, forced rebalances
 * over all of that, watches abandoned half way. Every call must end with a status other than
 * UNKNOWN or INTERNAL; afterwards the plane is SERVING, registers and lists an instance as before,
 * and memory is where it was. The normal run replays the committed corpus; {@code -Pfuzz} runs 10
 * 000 new inputs.
 */
class ControlPlaneFuzzTest {
  /** Ids the fuzzer reuses, so heartbeats and reports reach instances it registered. */
  private static final List<String> IDS = List.of("decode/a", "expert/0", "expert/1", "", "x");

  private static final List<String> ADDRESSES =
      List.of("127.0.0.1:1", "", "not an address", "[::1]:0", "127.0.0.1:99999", "a:b:c");

  private static Registry registry;
  private static Rebalancer rebalancer;
  private static InProcessService service;
  private static ManagedChannel channel;
  private static HostileCalls calls;
  private static HostileMemory memory;

  @BeforeAll
  static void start() throws Exception {
    // Short leases: what the fuzzer registers lapses while it runs, as a dead instance's would.
    registry = new Registry(500, System::currentTimeMillis);
    ExpertLoadLedger ledger = new ExpertLoadLedger();
    rebalancer =
        new Rebalancer(registry, ledger, StageChannels.plaintext(), 1.25, 1, Duration.ofMillis(50));
    service =
        InProcessService.start(
            new ControlPlaneGrpcService(
                registry,
                100,
                ledger,
                rebalancer,
                new ScalingAdvisor(registry, ScalingTargets.defaults())));
    channel = service.channel();
    calls =
        new HostileCalls(
            channel, ControlPlaneGrpc.getServiceDescriptor(), ControlPlaneFuzzTest::message);
    memory = HostileMemory.now();
  }

  private static MessageLite message(String method, FuzzedDataProvider data) {
    return switch (method) {
      case "Register" -> RegisterRequest.newBuilder().setInstance(instance(data)).build();
      case "Heartbeat" ->
          HeartbeatRequest.newBuilder()
              .setInstanceId(id(data))
              .setRunningRequests(data.consumeInt())
              .setQueuedTokens(data.consumeInt())
              .setTopologyVersion(data.consumeLong())
              .setQueuedRequests(data.consumeInt())
              .setKvUsedFraction(HostileCalls.hostileFloat(data))
              .setLatencyP90Ms(HostileCalls.hostileFloat(data))
              .build();
      case "ReportExpertLoad" ->
          ExpertLoadReport.newBuilder().setInstanceId(id(data)).setLoad(load(data)).build();
      case "Rebalance" -> RebalanceRequest.newBuilder().setForce(data.consumeBoolean()).build();
      case "GetScalingSignals" -> GetScalingSignalsRequest.getDefaultInstance();
      default -> GetTopologyRequest.getDefaultInstance();
    };
  }

  private static String id(FuzzedDataProvider data) {
    return data.consumeBoolean() ? data.pickValue(IDS) : data.consumeString(40);
  }

  private static Instance instance(FuzzedDataProvider data) {
    Instance.Builder b =
        Instance.newBuilder()
            .setId(id(data))
            .setRoleValue(data.consumeBoolean() ? data.consumeInt(0, 5) : data.consumeInt())
            .setAddress(data.consumeBoolean() ? data.pickValue(ADDRESSES) : data.consumeString(40))
            .setModelId(data.consumeBoolean() ? "m" : data.consumeString(20))
            .setCapacityBytes(data.consumeLong());
    if (data.consumeBoolean()) {
      b.setPlacement(placement(data));
    }
    return b.build();
  }

  private static Placement placement(FuzzedDataProvider data) {
    Placement.Builder p =
        Placement.newBuilder()
            .setModelId(data.consumeBoolean() ? "m" : data.consumeString(20))
            .setPoolIndex(data.consumeBoolean() ? data.consumeInt(0, 3) : data.consumeInt())
            .setPoolCount(data.consumeBoolean() ? data.consumeInt(0, 3) : data.consumeInt())
            .setHiddenSize(HostileCalls.hostileSize(data))
            .setNumExpertsPerTok(HostileCalls.hostileSize(data))
            .setResidentBytes(data.consumeLong())
            .setRoutedExperts(small(data))
            .setVersion(data.consumeLong());
    int experts = data.consumeInt(0, 16);
    for (int i = 0; i < experts; i++) {
      p.addExperts(small(data));
    }
    int layers = data.consumeInt(0, 6);
    for (int l = 0; l < layers; l++) {
      p.addMoeLayers(small(data));
      LayerExperts.Builder le = LayerExperts.newBuilder().setLayer(small(data));
      int n = data.consumeInt(0, 16);
      for (int i = 0; i < n; i++) {
        le.addExperts(small(data));
      }
      p.addLayers(le);
    }
    return p.build();
  }

  private static ExpertLoad load(FuzzedDataProvider data) {
    ExpertLoad.Builder b = ExpertLoad.newBuilder().setExpertPasses(data.consumeLong());
    int layers = data.consumeInt(0, 6);
    for (int l = 0; l < layers; l++) {
      LayerLoad.Builder layer = LayerLoad.newBuilder().setLayer(small(data));
      int n = data.consumeBoolean() ? data.consumeInt(0, 16) : data.consumeInt(0, 300);
      for (int i = 0; i < n; i++) {
        layer.addTokensPerExpert(
            data.consumeBoolean() ? data.consumeLong(0, 100) : data.consumeLong());
      }
      b.addLayers(layer);
    }
    return b.build();
  }

  /** An id or index: mostly small, sometimes anything (uint32 fields read as ints). */
  private static int small(FuzzedDataProvider data) {
    return data.consumeBoolean() ? data.consumeInt(0, 16) : data.consumeInt();
  }

  @FuzzTest(maxExecutions = 10_000)
  void hostileMessagesGetAStatusOtherThanUnknownOrInternal(FuzzedDataProvider data)
      throws Exception {
    calls.call(data, 1);
  }

  @AfterAll
  static void afterwardsThePlaneServesAsBefore() throws Exception {
    try {
      System.out.println(calls.report("control plane"));
      HostileCalls.assertServing(channel);
      var stub = ControlPlaneGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS);
      Instance known =
          Instance.newBuilder()
              .setId("decode/known")
              .setRole(Role.ROLE_DECODE)
              .setAddress("127.0.0.1:7001")
              .build();
      assertThat(
              stub.register(RegisterRequest.newBuilder().setInstance(known).build()).getLeaseMs())
          .isEqualTo(500);
      Topology t = stub.getTopology(GetTopologyRequest.getDefaultInstance());
      assertThat(t.getInstancesList())
          .as("the instance registered after the hostile calls, in %s", t)
          .contains(known);
      assertThat(
              stub.heartbeat(HeartbeatRequest.newBuilder().setInstanceId("decode/known").build())
                  .getUnknown())
          .as("a heartbeat from the known instance is known")
          .isFalse();
      assertThat(
              stub.getScalingSignals(GetScalingSignalsRequest.getDefaultInstance()).getStagesList())
          .isNotEmpty();
      memory.assertFlat("control plane");
    } finally {
      rebalancer.close();
      service.close();
    }
  }
}
