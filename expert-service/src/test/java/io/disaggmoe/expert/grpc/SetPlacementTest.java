package io.disaggmoe.expert.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.disaggmoe.expert.core.ExpertPool;
import io.disaggmoe.model.testing.GoldenCase;
import io.disaggmoe.proto.Tensors;
import io.disaggmoe.proto.v1.DispatchRequest;
import io.disaggmoe.proto.v1.ExpertServiceGrpc;
import io.disaggmoe.proto.v1.GetPlacementRequest;
import io.disaggmoe.proto.v1.LayerExperts;
import io.disaggmoe.proto.v1.Placement;
import io.disaggmoe.proto.v1.SetPlacementRequest;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A pool moved to another placement at run time, as the control plane moves it: experts loaded from
 * the checkpoint compute what a pool configured with them computes, dropped ones are refused, and a
 * placement that is not whole is invalid.
 */
class SetPlacementTest {
  private static final GoldenCase TINY = GoldenCase.named("v3-tiny");
  private ExpertPool pool;
  private ExpertPool reference;
  private final List<Server> servers = new java.util.ArrayList<>();
  private final List<ManagedChannel> channels = new java.util.ArrayList<>();
  private ExpertServiceGrpc.ExpertServiceBlockingStub stub;
  private ExpertServiceGrpc.ExpertServiceBlockingStub configured;

  @BeforeEach
  void start() throws Exception {
    // v3-tiny: 16 experts, MoE layers 1..3; this pool starts with experts 0..7.
    pool = ExpertPool.load(TINY.dir(), "0/2", List.of());
    reference = ExpertPool.load(TINY.dir(), "1/2", List.of());
    stub = serve(pool);
    configured = serve(reference);
  }

  private ExpertServiceGrpc.ExpertServiceBlockingStub serve(ExpertPool p) throws Exception {
    String name = InProcessServerBuilder.generateName();
    servers.add(
        InProcessServerBuilder.forName(name).addService(new ExpertGrpcService(p)).build().start());
    ManagedChannel channel = InProcessChannelBuilder.forName(name).build();
    channels.add(channel);
    return ExpertServiceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
  }

  @AfterEach
  void stop() throws Exception {
    channels.forEach(ManagedChannel::shutdownNow);
    for (Server s : servers) {
      s.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    pool.close();
    reference.close();
  }

  private static SetPlacementRequest place(boolean drop, List<List<Integer>> experts) {
    SetPlacementRequest.Builder r =
        SetPlacementRequest.newBuilder().setVersion(9).setDropOthers(drop);
    for (int i = 0; i < experts.size(); i++) {
      r.addLayers(LayerExperts.newBuilder().setLayer(i + 1).addAllExperts(experts.get(i)));
    }
    return r.build();
  }

  private DispatchRequest dispatch(int layer, int expert) {
    int dim = pool.config().hiddenSize();
    float[] hidden = new float[dim];
    for (int i = 0; i < dim; i++) {
      hidden[i] = (float) Math.cos(i) * 0.2f;
    }
    return DispatchRequest.newBuilder()
        .setLayer(layer)
        .setHidden(Tensors.f32(hidden, 1, dim))
        .setExpertIds(Tensors.i32(new int[] {expert}, 1, 1))
        .setRoutingWeights(Tensors.f32(new float[] {0.75f}, 1, 1))
        .build();
  }

  @Test
  void expertsLoadedLiveComputeAsConfiguredOnesAndDroppedOnesAreRefused() throws Exception {
    long before = pool.residentBytes();
    Placement grown =
        stub.setPlacement(
            place(false, List.of(List.of(0, 1, 12), List.of(2, 13), List.of(3, 14, 15))));
    assertThat(grown.getVersion()).isEqualTo(9);
    assertThat(grown.getLayers(0).getExpertsList())
        .as("layer 1 keeps what it held and adds 12")
        .containsExactly(0, 1, 2, 3, 4, 5, 6, 7, 12);
    assertThat(pool.residentBytes()).isGreaterThan(before);
    float[] loaded = Tensors.toF32(stub.dispatch(dispatch(3, 15)).getPartial(), "partial", 2);
    float[] asConfigured =
        Tensors.toF32(configured.dispatch(dispatch(3, 15)).getPartial(), "partial", 2);
    assertThat(loaded)
        .as("expert 15 of layer 3, loaded live vs configured")
        .containsExactly(asConfigured);

    Placement dropped =
        stub.setPlacement(
            place(true, List.of(List.of(0, 1, 12), List.of(2, 13), List.of(3, 14, 15))));
    assertThat(dropped.getLayers(2).getExpertsList()).containsExactly(3, 14, 15);
    assertThat(stub.getPlacement(GetPlacementRequest.getDefaultInstance())).isEqualTo(dropped);
    assertThat(pool.residentBytes()).as("8 experts of 48 kept").isEqualTo(before * 8 / 24);
    assertThatThrownBy(() -> stub.dispatch(dispatch(1, 5)))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> {
              assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
              assertThat(e.getStatus().getDescription()).contains("expert 5 of layer 1");
            });
  }

  @Test
  void aPlacementThatIsNotWholeIsInvalid() {
    assertInvalid(place(false, List.of(List.of(0), List.of(1))), "every MoE layer [1, 2, 3]");
    assertInvalid(
        place(false, List.of(List.of(0), List.of(), List.of(1))), "layer 2 holds no expert");
    assertInvalid(
        place(false, List.of(List.of(0), List.of(16), List.of(1))), "expert 16 of layer 2");
    SetPlacementRequest twice =
        place(false, List.of(List.of(0), List.of(1), List.of(2))).toBuilder()
            .addLayers(LayerExperts.newBuilder().setLayer(1).addExperts(3))
            .build();
    assertInvalid(twice, "layer 1 is named twice");
    assertThat(pool.placement().version()).as("left as it was").isZero();
  }

  private void assertInvalid(SetPlacementRequest r, String text) {
    assertThatThrownBy(() -> stub.setPlacement(r))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> {
              assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
              assertThat(e.getStatus().getDescription()).contains(text);
            });
  }
}
