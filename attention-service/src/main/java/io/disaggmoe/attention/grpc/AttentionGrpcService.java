package io.disaggmoe.attention.grpc;

import com.google.protobuf.ByteString;
import io.disaggmoe.attention.client.Peers;
import io.disaggmoe.attention.core.DecodeEngine;
import io.disaggmoe.attention.core.DecodeJob;
import io.disaggmoe.attention.core.DecodeListener;
import io.disaggmoe.attention.core.PrefillEngine;
import io.disaggmoe.attention.core.PrefillJob;
import io.disaggmoe.attention.core.PrefillResult;
import io.disaggmoe.attention.core.TokenIds;
import io.disaggmoe.model.GreedyForward;
import io.disaggmoe.model.LocalModel;
import io.disaggmoe.model.sampling.CompletionStep;
import io.disaggmoe.model.sampling.FinishReason;
import io.disaggmoe.proto.Tensors;
import io.disaggmoe.proto.v1.AttentionServiceGrpc;
import io.disaggmoe.proto.v1.AttentionStatus;
import io.disaggmoe.proto.v1.CacheHandle;
import io.disaggmoe.proto.v1.DecodeRequest;
import io.disaggmoe.proto.v1.DecodeResponse;
import io.disaggmoe.proto.v1.ForwardRequest;
import io.disaggmoe.proto.v1.ForwardResponse;
import io.disaggmoe.proto.v1.GetStatusRequest;
import io.disaggmoe.proto.v1.PrefillRequest;
import io.disaggmoe.proto.v1.PrefillResponse;
import io.disaggmoe.proto.wire.GrpcStatuses;
import io.disaggmoe.proto.wire.ParseFailures;
import io.disaggmoe.proto.wire.ReadyGatedStream;
import io.grpc.BindableService;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;

/**
 * The gRPC face of an attention instance: {@code Prefill} on a prefill instance, {@code Decode} on
 * a decode instance (each refuses the other role's call with FAILED_PRECONDITION), and the debug
 * {@code Forward} on either when the instance was started with it on: one at a time (it holds the
 * model for its whole run), within the model's context, with no cache kept.
 */
public final class AttentionGrpcService
    implements AttentionServiceGrpc.AsyncService, BindableService {
  /**
   * Bytes of Decode replies a stream may have waiting: thousands of tokens, or a few with logits.
   */
  static final long DECODE_REPLY_LIMIT_BYTES = 64L << 20;

  /** The generated binding; a request that does not parse gets INVALID_ARGUMENT. */
  @Override
  public ServerServiceDefinition bindService() {
    return ParseFailures.asInvalidArgument(AttentionServiceGrpc.bindService(this));
  }

  private final LocalModel model;
  private final String role;
  private final PrefillEngine prefill;
  private final DecodeEngine decode;
  private final boolean forwardOn;
  private final Semaphore forwarding = new Semaphore(1);
  private final Peers peers;

  /**
   * Exactly one of {@code prefill} and {@code decode} is set, as {@code role} says; {@code
   * forwardOn} opens the debug {@code Forward}; {@code peers} are reported by {@code GetStatus}.
   */
  public AttentionGrpcService(
      LocalModel model,
      String role,
      PrefillEngine prefill,
      DecodeEngine decode,
      boolean forwardOn,
      Peers peers) {
    this.model = model;
    this.role = role;
    this.prefill = prefill;
    this.decode = decode;
    this.forwardOn = forwardOn;
    this.peers = peers;
  }

  @Override
  public void prefill(PrefillRequest r, StreamObserver<PrefillResponse> out) {
    if (prefill == null) {
      out.onError(wrongRole("Prefill"));
      return;
    }
    PrefillJob job;
    try {
      job =
          new PrefillJob(
              r.getRequestId(),
              r.getTenant(),
              ints(r.getPromptIdsList()),
              SamplingMapper.fromProto(r.getSampling()),
              r.getReturnLogits(),
              r.hasPromptLogprobs() ? r.getPromptLogprobs() : -1);
    } catch (RuntimeException e) {
      out.onError(GrpcStatuses.toStatus(e).asRuntimeException());
      return;
    }
    int vocab = model.config().vocabSize();
    CompletableFuture<PrefillResult> pending = prefill.submit(job);
    ((ServerCallStreamObserver<PrefillResponse>) out)
        .setOnCancelHandler(() -> pending.cancel(false));
    pending.whenComplete(
        (result, e) -> {
          if (pending.isCancelled()) {
            return;
          }
          if (e != null) {
            out.onError(GrpcStatuses.toStatus(e).asRuntimeException());
            return;
          }
          PrefillResponse.Builder b =
              PrefillResponse.newBuilder()
                  .setRequestId(r.getRequestId())
                  .setFirstToken(SamplingMapper.toProto(result.first().token()))
                  .setText(result.first().text())
                  .setCache(
                      CacheHandle.newBuilder()
                          .setRequestId(r.getRequestId())
                          .setTenant(r.getTenant())
                          .addAllBlockHashes(
                              result.blockHashes().stream().map(ByteString::copyFrom).toList())
                          .setTokens(result.cacheTokens()))
                  .setCachedTokens(result.cachedTokens())
                  .setComputedTokens(result.computedTokens())
                  .setFinishReason(SamplingMapper.toProto(result.first().finishReason()));
          result.promptLogprobs().forEach(t -> b.addPromptLogprobs(SamplingMapper.toProto(t)));
          if (result.logits() != null) {
            b.setLogits(Tensors.f32(result.logits(), result.computedTokens(), vocab));
          }
          out.onNext(b.build());
          out.onCompleted();
        });
  }

  @Override
  public void decode(DecodeRequest r, StreamObserver<DecodeResponse> plainOut) {
    if (decode == null) {
      plainOut.onError(wrongRole("Decode"));
      return;
    }
    ServerCallStreamObserver<DecodeResponse> out =
        (ServerCallStreamObserver<DecodeResponse>) plainOut;
    DecodeJob job;
    try {
      CacheHandle h = r.getCache();
      job =
          new DecodeJob(
              r.getRequestId(),
              r.getTenant(),
              ints(r.getPromptIdsList()),
              ints(r.getGeneratedIdsList()),
              h.getBlockHashesList().stream().map(ByteString::toByteArray).toList(),
              h.getTokens(),
              SamplingMapper.fromProto(r.getSampling()),
              r.getReturnLogits());
    } catch (RuntimeException e) {
      out.onError(GrpcStatuses.toStatus(e).asRuntimeException());
      return;
    }
    out.setOnCancelHandler(() -> decode.cancel(job.requestId()));
    // Tokens leave as the client reads; one more than 64 MiB behind is cut off and its request
    // cancelled.
    ReadyGatedStream<DecodeResponse> replies =
        new ReadyGatedStream<>(
            out, DECODE_REPLY_LIMIT_BYTES, "the client", () -> decode.cancel(job.requestId()));
    int vocab = model.config().vocabSize();
    decode.submit(
        job,
        new DecodeListener() {
          @Override
          public void onStep(CompletionStep step, float[] logits) {
            DecodeResponse.Builder b =
                DecodeResponse.newBuilder()
                    .setRequestId(job.requestId())
                    .addTokens(SamplingMapper.toProto(step.token()))
                    .setText(step.text())
                    .setFinishReason(SamplingMapper.toProto(step.finishReason()));
            if (logits != null) {
              b.setLogits(Tensors.f32(logits, 1, vocab));
            }
            replies.send(b.build());
          }

          @Override
          public void onDone(FinishReason reason) {
            replies.complete();
          }

          @Override
          public void onError(RuntimeException e) {
            replies.fail(GrpcStatuses.toStatus(e));
          }
        });
  }

  private StatusRuntimeException wrongRole(String rpc) {
    return Status.FAILED_PRECONDITION
        .withDescription("this attention instance has role " + role + "; " + rpc + " needs another")
        .asRuntimeException();
  }

  private static int[] ints(List<Integer> values) {
    return values.stream().mapToInt(Integer::intValue).toArray();
  }

  @Override
  public void forward(ForwardRequest request, StreamObserver<ForwardResponse> response) {
    if (!forwardOn) {
      response.onError(
          Status.FAILED_PRECONDITION
              .withDescription(
                  "Forward is a debugging call and off on this instance; start it with"
                      + " --debug-forward (disaggmoe.attention.debug-forward=true)")
              .asRuntimeException());
      return;
    }
    if (!forwarding.tryAcquire()) {
      response.onError(
          Status.RESOURCE_EXHAUSTED
              .withDescription("a Forward is running on this instance; one runs at a time")
              .asRuntimeException());
      return;
    }
    ForwardResponse reply = null;
    Status failure = null;
    try {
      int[] prompt = request.getPromptIdsList().stream().mapToInt(Integer::intValue).toArray();
      if (prompt.length == 0) {
        throw new IllegalArgumentException("prompt_ids is empty");
      }
      int steps = request.getDecodeSteps();
      int context = model.config().maxPositionEmbeddings();
      if (steps < 0 || (long) prompt.length + steps > context) {
        throw new IllegalArgumentException(
            "prompt_ids ("
                + prompt.length
                + ") and decode_steps ("
                + steps
                + ") must fit this model's context of "
                + context);
      }
      int vocab = model.config().vocabSize();
      TokenIds.check(prompt, "prompt_ids", vocab);
      GreedyForward r;
      synchronized (model) {
        r = GreedyForward.run(model, prompt, steps);
      }
      reply =
          ForwardResponse.newBuilder()
              .setPrefillLogits(Tensors.f32(r.prefillLogits(), prompt.length, vocab))
              .setDecodeLogits(Tensors.f32(r.decodeLogits(), steps, vocab))
              .addAllGreedyIds(Arrays.stream(r.greedyIds()).boxed().toList())
              .build();
    } catch (RuntimeException | Error e) {
      failure = GrpcStatuses.toStatus(e);
    } finally {
      // Free before answering: a caller that has its answer may send the next one at once.
      forwarding.release();
    }
    if (failure != null) {
      response.onError(failure.asRuntimeException());
    } else {
      response.onNext(reply);
      response.onCompleted();
    }
  }

  @Override
  public void getStatus(GetStatusRequest request, StreamObserver<AttentionStatus> response) {
    AttentionStatus.Builder b = AttentionStatus.newBuilder().setRole(role).addAllPeers(peers.now());
    if (prefill != null) {
      b.setQueuedTokens(prefill.queuedTokens());
    }
    if (decode != null) {
      b.setRunningRequests(decode.runningRequests())
          .setFreeKvBytes(decode.freeKvBytes())
          .setKvCapacityBytes(decode.kvCapacityBytes());
    }
    response.onNext(b.build());
    response.onCompleted();
  }
}
