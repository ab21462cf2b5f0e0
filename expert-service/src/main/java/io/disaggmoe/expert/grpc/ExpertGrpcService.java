package io.disaggmoe.expert.grpc;

import io.disaggmoe.expert.core.ExpertPool;
import io.disaggmoe.proto.Tensors;
import io.disaggmoe.proto.v1.DispatchError;
import io.disaggmoe.proto.v1.DispatchRequest;
import io.disaggmoe.proto.v1.DispatchResponse;
import io.disaggmoe.proto.v1.ExpertLoad;
import io.disaggmoe.proto.v1.ExpertServiceGrpc;
import io.disaggmoe.proto.v1.GetExpertLoadRequest;
import io.disaggmoe.proto.v1.GetPlacementRequest;
import io.disaggmoe.proto.v1.LayerLoad;
import io.disaggmoe.proto.v1.Placement;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.util.Arrays;

/** The gRPC face of an {@link ExpertPool}: decode tensors, dispatch, encode, map failures. */
public final class ExpertGrpcService extends ExpertServiceGrpc.ExpertServiceImplBase {
  private final ExpertPool pool;

  public ExpertGrpcService(ExpertPool pool) {
    this.pool = pool;
  }

  @Override
  public void dispatch(DispatchRequest request, StreamObserver<DispatchResponse> response) {
    try {
      response.onNext(run(request));
      response.onCompleted();
    } catch (RuntimeException e) {
      response.onError(ExpertStatusMapper.toStatus(e).asRuntimeException());
    }
  }

  @Override
  public StreamObserver<DispatchRequest> dispatchStream(StreamObserver<DispatchResponse> out) {
    return new StreamObserver<>() {
      @Override
      public void onNext(DispatchRequest request) {
        DispatchResponse reply;
        try {
          reply = run(request);
        } catch (RuntimeException e) {
          Status s = ExpertStatusMapper.toStatus(e);
          reply =
              DispatchResponse.newBuilder()
                  .setDispatchId(request.getDispatchId())
                  .setError(
                      DispatchError.newBuilder()
                          .setCode(s.getCode().value())
                          .setMessage(String.valueOf(s.getDescription())))
                  .build();
        }
        out.onNext(reply);
      }

      @Override
      public void onError(Throwable t) {
        // The attention instance went away; nothing is owed to it.
      }

      @Override
      public void onCompleted() {
        out.onCompleted();
      }
    };
  }

  private DispatchResponse run(DispatchRequest r) {
    float[] hidden = Tensors.toF32(r.getHidden(), "hidden", 2);
    int[] ids = Tensors.toI32(r.getExpertIds(), "expert_ids", 2);
    float[] weights = Tensors.toF32(r.getRoutingWeights(), "routing_weights", 2);
    int tokens = Tensors.dim(r.getHidden(), 0);
    int k = Tensors.dim(r.getExpertIds(), 1);
    if (Tensors.dim(r.getExpertIds(), 0) != tokens
        || !r.getRoutingWeights().getShapeList().equals(r.getExpertIds().getShapeList())) {
      throw new IllegalArgumentException(
          "hidden "
              + r.getHidden().getShapeList()
              + ", expert_ids "
              + r.getExpertIds().getShapeList()
              + " and routing_weights "
              + r.getRoutingWeights().getShapeList()
              + " disagree on the token count or k");
    }
    float[] partial = pool.dispatch(r.getLayer(), hidden, ids, weights, k);
    return DispatchResponse.newBuilder()
        .setDispatchId(r.getDispatchId())
        .setPartial(Tensors.f32(partial, tokens, pool.config().hiddenSize()))
        .build();
  }

  @Override
  public void getPlacement(GetPlacementRequest request, StreamObserver<Placement> response) {
    response.onNext(
        Placement.newBuilder()
            .setModelId(pool.modelId())
            .setPoolIndex(pool.placement().poolIndex())
            .setPoolCount(pool.placement().poolCount())
            .addAllExperts(pool.placement().experts())
            .addAllMoeLayers(pool.moeLayers())
            .setHiddenSize(pool.config().hiddenSize())
            .setNumExpertsPerTok(pool.config().numExpertsPerTok())
            .setResidentBytes(pool.residentBytes())
            .build());
    response.onCompleted();
  }

  @Override
  public void getExpertLoad(GetExpertLoadRequest request, StreamObserver<ExpertLoad> response) {
    ExpertLoad.Builder b = ExpertLoad.newBuilder();
    for (int layer : pool.moeLayers()) {
      b.addLayers(
          LayerLoad.newBuilder()
              .setLayer(layer)
              .addAllTokensPerExpert(Arrays.stream(pool.load().layer(layer)).boxed().toList()));
    }
    response.onNext(b.build());
    response.onCompleted();
  }
}
