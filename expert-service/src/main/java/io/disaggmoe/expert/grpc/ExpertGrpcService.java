package io.disaggmoe.expert.grpc;

import com.google.protobuf.ByteString;
import io.disaggmoe.expert.core.ExpertPlacement;
import io.disaggmoe.expert.core.ExpertPool;
import io.disaggmoe.expert.core.InvalidPlacementException;
import io.disaggmoe.expert.core.SlotOutputs;
import io.disaggmoe.proto.PlacementLayers;
import io.disaggmoe.proto.Tensors;
import io.disaggmoe.proto.telemetry.StageTracing;
import io.disaggmoe.proto.v1.DispatchError;
import io.disaggmoe.proto.v1.DispatchRequest;
import io.disaggmoe.proto.v1.DispatchResponse;
import io.disaggmoe.proto.v1.ExpertLoad;
import io.disaggmoe.proto.v1.ExpertServiceGrpc;
import io.disaggmoe.proto.v1.GetExpertLoadRequest;
import io.disaggmoe.proto.v1.GetPlacementRequest;
import io.disaggmoe.proto.v1.LayerExperts;
import io.disaggmoe.proto.v1.LayerLoad;
import io.disaggmoe.proto.v1.Placement;
import io.disaggmoe.proto.v1.SetPlacementRequest;
import io.disaggmoe.proto.v1.Tensor;
import io.disaggmoe.proto.wire.DispatchMethods;
import io.disaggmoe.proto.wire.GrpcStatuses;
import io.disaggmoe.proto.wire.ParseFailures;
import io.disaggmoe.proto.wire.ReadyGatedStream;
import io.disaggmoe.proto.wire.ScratchBytes;
import io.grpc.BindableService;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;

/** The gRPC face of an {@link ExpertPool}: decode tensors, dispatch, encode, map failures. */
public final class ExpertGrpcService implements ExpertServiceGrpc.AsyncService, BindableService {
  private final ExpertPool pool;
  private final long replyLimitBytes;
  private final ScratchBytes replies = new ScratchBytes();

  public ExpertGrpcService(ExpertPool pool) {
    this(pool, REPLY_LIMIT_BYTES);
  }

  /** With {@code replyLimitBytes} of partial sums allowed to wait for a stream's reader. */
  public ExpertGrpcService(ExpertPool pool, long replyLimitBytes) {
    this.pool = pool;
    this.replyLimitBytes = replyLimitBytes;
  }

  /** The generated binding, with dispatches parsed in place rather than copied. */
  @Override
  public ServerServiceDefinition bindService() {
    return ParseFailures.asInvalidArgument(
        DispatchMethods.aliasingRequests(ExpertServiceGrpc.bindService(this)));
  }

  @Override
  public void dispatch(DispatchRequest request, StreamObserver<DispatchResponse> response) {
    long id = request.getDispatchId();
    try {
      run(request)
          .whenComplete(
              (sums, err) -> {
                if (err == null) {
                  response.onNext(reply(id, sums));
                  response.onCompleted();
                } else {
                  response.onError(GrpcStatuses.toStatus(err).asRuntimeException());
                }
              });
    } catch (RuntimeException e) {
      response.onError(GrpcStatuses.toStatus(e).asRuntimeException());
    }
  }

  /**
   * Bytes of partial sums one stream may have waiting for its reader: over a hundred of the largest
   * dispatches ([64, 7168] F32).
   */
  static final long REPLY_LIMIT_BYTES = 256L << 20;

  @Override
  public StreamObserver<DispatchRequest> dispatchStream(StreamObserver<DispatchResponse> out) {
    return new DispatchStreamReplies(out);
  }

  /**
   * One attention instance's stream. Replies leave in the order dispatches complete, from the
   * transport thread (refusals, dispatches with nothing to run here) or the pool's compute thread,
   * so sending is serialized; the stream is completed once the caller has half-closed and every
   * accepted dispatch has been answered.
   */
  private final class DispatchStreamReplies implements StreamObserver<DispatchRequest> {
    private final ReadyGatedStream<DispatchResponse> out;
    private final Set<CompletableFuture<SlotOutputs>> inFlight = ConcurrentHashMap.newKeySet();
    private int unanswered;
    private boolean halfClosed;
    private volatile boolean gone;

    DispatchStreamReplies(StreamObserver<DispatchResponse> out) {
      // A caller that stops reading its partial sums is cut off, and its queued work dropped.
      this.out =
          new ReadyGatedStream<>(
              (ServerCallStreamObserver<DispatchResponse>) out,
              replyLimitBytes,
              "the attention instance",
              () -> onError(null));
    }

    @Override
    public void onNext(DispatchRequest request) {
      long id = request.getDispatchId();
      synchronized (this) {
        unanswered++;
      }
      try {
        CompletableFuture<SlotOutputs> f = run(request);
        inFlight.add(f);
        f.whenComplete(
            (sums, err) -> {
              inFlight.remove(f);
              answer(err == null ? reply(id, sums) : error(id, err));
            });
        if (gone) {
          f.cancel(false);
        }
      } catch (RuntimeException e) {
        answer(error(id, e));
      }
    }

    private synchronized void answer(DispatchResponse reply) {
      unanswered--;
      if (gone) {
        return;
      }
      out.send(reply, ExpertGrpcService::ownCopy);
      if (halfClosed && unanswered == 0) {
        out.complete();
      }
    }

    /** The attention instance went away (or cancelled): nothing is owed to it, nor computed. */
    @Override
    public void onError(Throwable t) {
      synchronized (this) {
        gone = true;
      }
      inFlight.forEach(f -> f.cancel(false));
    }

    @Override
    public synchronized void onCompleted() {
      halfClosed = true;
      if (unanswered == 0) {
        out.complete();
      }
    }
  }

  private static DispatchResponse error(long id, Throwable err) {
    Status s = GrpcStatuses.toStatus(err);
    return DispatchResponse.newBuilder()
        .setDispatchId(id)
        .setError(
            DispatchError.newBuilder()
                .setCode(s.getCode().value())
                .setMessage(String.valueOf(s.getDescription())))
        .build();
  }

  /**
   * Checks and hands one dispatch to the pool. The request's tensors are read in place (they alias
   * the transport thread's buffer, see {@link DispatchMethods#aliasingRequests}); the pool copies
   * what it keeps before this returns.
   */
  private CompletableFuture<SlotOutputs> run(DispatchRequest r) {
    // A span under the pass that sent it: the stream itself is shared by every request.
    Span span =
        StageTracing.startFromMessage(
            "ExpertService/Dispatch", SpanKind.SERVER, r.getTraceparent());
    if (!span.getSpanContext().isValid()) {
      return compute(r);
    }
    span.setAttribute("disaggmoe.layer", r.getLayer());
    span.setAttribute("disaggmoe.tokens", Tensors.dim(r.getHidden(), 0));
    try {
      CompletableFuture<SlotOutputs> f = compute(r);
      f.whenComplete(
          (sums, e) -> {
            if (e != null) {
              span.setStatus(StatusCode.ERROR, String.valueOf(e.getMessage()));
            }
            span.end();
          });
      // The pool's own future: cancelling it drops the dispatch's queued work.
      return f;
    } catch (RuntimeException e) {
      span.setStatus(StatusCode.ERROR, String.valueOf(e.getMessage()));
      span.end();
      throw e;
    }
  }

  private CompletableFuture<SlotOutputs> compute(DispatchRequest r) {
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
    return pool.dispatch(r.getLayer(), hidden, ids, weights, k);
  }

  /**
   * The slot outputs go into this thread's scratch array, which the reply shares: the caller sends
   * the reply (gRPC serializes it then) before this thread builds another, or, when the reply must
   * wait for a slow reader, queues {@link #ownCopy} of it. A queued reply that shared the array
   * went out with the outputs of the next dispatch this thread answered, for rows of its own.
   */
  private DispatchResponse reply(long id, SlotOutputs rows) {
    int bytes = rows.size() * Float.BYTES;
    byte[] partial = replies.take(bytes);
    rows.writeTo(ByteBuffer.wrap(partial, 0, bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer());
    int dim = pool.config().hiddenSize();
    return DispatchResponse.newBuilder()
        .setDispatchId(id)
        .setPartial(Tensors.f32Sharing(partial, bytes, rows.size() / dim, dim))
        .build();
  }

  /** {@code reply} with its outputs in an array of its own rather than this thread's scratch. */
  private static DispatchResponse ownCopy(DispatchResponse reply) {
    if (!reply.hasPartial()) {
      return reply;
    }
    Tensor partial = reply.getPartial();
    ByteString data = ByteString.copyFrom(partial.getData().asReadOnlyByteBuffer());
    return reply.toBuilder().setPartial(partial.toBuilder().setData(data)).build();
  }

  @Override
  public void getPlacement(GetPlacementRequest request, StreamObserver<Placement> response) {
    response.onNext(placement(pool));
    response.onCompleted();
  }

  /** The pool's placement as callers and the control plane see it. */
  public static Placement placement(ExpertPool pool) {
    ExpertPlacement held = pool.placement();
    Placement.Builder b =
        Placement.newBuilder()
            .setModelId(pool.modelId())
            .setPoolIndex(held.poolIndex())
            .setPoolCount(held.poolCount())
            .addAllExperts(held.experts())
            .setVersion(held.version())
            .setRoutedExperts(pool.config().nRoutedExperts());
    return b.addAllLayers(PlacementLayers.toProto(held.layers()))
        .addAllMoeLayers(pool.moeLayers())
        .setHiddenSize(pool.config().hiddenSize())
        .setNumExpertsPerTok(pool.config().numExpertsPerTok())
        .setResidentBytes(pool.residentBytes())
        .build();
  }

  /**
   * Reading new experts from the checkpoint takes a while: it runs on a virtual thread of its own,
   * not on the transport thread that dispatches run on.
   */
  @Override
  public void setPlacement(SetPlacementRequest request, StreamObserver<Placement> response) {
    Thread.ofVirtual()
        .name("set-placement")
        .start(
            () -> {
              try {
                Map<Integer, List<Integer>> layers = new TreeMap<>();
                for (LayerExperts l : request.getLayersList()) {
                  if (layers.put(l.getLayer(), l.getExpertsList()) != null) {
                    throw new InvalidPlacementException(
                        "layer " + l.getLayer() + " is named twice");
                  }
                }
                pool.setPlacement(layers, request.getVersion(), request.getDropOthers());
                response.onNext(placement(pool));
                response.onCompleted();
              } catch (RuntimeException e) {
                response.onError(GrpcStatuses.toStatus(e).asRuntimeException());
              }
            });
  }

  @Override
  public void getExpertLoad(GetExpertLoadRequest request, StreamObserver<ExpertLoad> response) {
    response.onNext(load(pool));
    response.onCompleted();
  }

  /** Tokens per expert per layer and expert passes, since the pool started. */
  public static ExpertLoad load(ExpertPool pool) {
    ExpertLoad.Builder b = ExpertLoad.newBuilder().setExpertPasses(pool.expertPasses());
    for (int layer : pool.moeLayers()) {
      b.addLayers(
          LayerLoad.newBuilder()
              .setLayer(layer)
              .addAllTokensPerExpert(Arrays.stream(pool.load().layer(layer)).boxed().toList()));
    }
    return b.build();
  }
}
