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
import io.disaggmoe.proto.wire.DispatchMethods;
import io.disaggmoe.proto.wire.ScratchBytes;
import io.grpc.BindableService;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Arrays;

/** The gRPC face of an {@link ExpertPool}: decode tensors, dispatch, encode, map failures. */
public final class ExpertGrpcService implements ExpertServiceGrpc.AsyncService, BindableService {
  private final ExpertPool pool;
  private final ScratchBytes replies = new ScratchBytes();

  public ExpertGrpcService(ExpertPool pool) {
    this.pool = pool;
  }

  /** The generated binding, with dispatches parsed in place rather than copied. */
  @Override
  public ServerServiceDefinition bindService() {
    return DispatchMethods.aliasingRequests(ExpertServiceGrpc.bindService(this));
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

  /**
   * The request's tensors are read in place (they alias the transport thread's buffer, see {@link
   * DispatchMethods#aliasingRequests}) and the reply's partial sums are written into this thread's
   * scratch array, which the reply shares: the caller sends the reply before this thread runs
   * another dispatch.
   */
  private DispatchResponse run(DispatchRequest r) {
    ByteBuffer hidden = Tensors.f32Data(r.getHidden(), "hidden", 2);
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
    int bytes = hidden.limit();
    byte[] partial = replies.take(bytes);
    Arrays.fill(partial, 0, bytes, (byte) 0);
    FloatBuffer out =
        ByteBuffer.wrap(partial, 0, bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
    pool.dispatch(r.getLayer(), hidden, ids, weights, k, out);
    return DispatchResponse.newBuilder()
        .setDispatchId(r.getDispatchId())
        .setPartial(Tensors.f32Sharing(partial, bytes, tokens, pool.config().hiddenSize()))
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
