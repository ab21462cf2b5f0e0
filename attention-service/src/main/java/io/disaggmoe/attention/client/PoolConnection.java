package io.disaggmoe.attention.client;

import io.disaggmoe.proto.v1.DispatchRequest;
import io.disaggmoe.proto.v1.ExpertServiceGrpc;
import io.disaggmoe.proto.v1.GetPlacementRequest;
import io.disaggmoe.proto.v1.Placement;
import io.disaggmoe.proto.wire.DispatchMethods;
import io.disaggmoe.proto.wire.ReceivedPartial;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One expert pool as an attention instance sees it: its placement and one long-lived dispatch
 * stream, whose responses complete the pending dispatches by id. When the stream breaks, every
 * pending dispatch fails and the pool is considered down.
 */
public final class PoolConnection implements AutoCloseable {
  private final String target;
  private final ManagedChannel channel;
  private final Placement placement;
  private final Map<Long, CompletableFuture<ReceivedPartial>> pending = new ConcurrentHashMap<>();
  private final AtomicLong ids = new AtomicLong();
  private StreamObserver<DispatchRequest> stream;
  private volatile boolean alive = true;

  private PoolConnection(String target, ManagedChannel channel, Placement placement) {
    this.target = target;
    this.channel = channel;
    this.placement = placement;
  }

  public static PoolConnection open(String target, Duration deadline) {
    ManagedChannel channel =
        NettyChannelBuilder.forTarget(target)
            .usePlaintext()
            .maxInboundMessageSize(Integer.MAX_VALUE)
            // Whole activations fit in the window, so no WINDOW_UPDATE round trip per dispatch.
            .flowControlWindow(32 << 20)
            // Responses only complete a future: no need to hop to another thread first.
            .directExecutor()
            .build();
    try {
      Placement placement =
          ExpertServiceGrpc.newBlockingStub(channel)
              .withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS)
              .getPlacement(GetPlacementRequest.getDefaultInstance());
      PoolConnection pool = new PoolConnection(target, channel, placement);
      pool.stream =
          ClientCalls.asyncBidiStreamingCall(
              channel.newCall(DispatchMethods.CLIENT_DISPATCH_STREAM, CallOptions.DEFAULT),
              pool.new Responses());
      return pool;
    } catch (StatusRuntimeException e) {
      channel.shutdownNow();
      throw new IllegalStateException(
          "expert pool " + target + " did not answer GetPlacement: " + e.getStatus(), e);
    }
  }

  public Placement placement() {
    return placement;
  }

  boolean alive() {
    return alive;
  }

  @Override
  public String toString() {
    return target + " (pool " + placement.getPoolIndex() + "/" + placement.getPoolCount() + ")";
  }

  /**
   * Sends one dispatch on the stream; the future holds the decoded partial sums, or fails with the
   * status the pool answered.
   */
  public CompletableFuture<ReceivedPartial> send(DispatchRequest request, Duration deadline) {
    if (!alive) {
      return CompletableFuture.failedFuture(
          Status.UNAVAILABLE
              .withDescription(this + ": dispatch stream is closed")
              .asRuntimeException());
    }
    long id = ids.incrementAndGet();
    CompletableFuture<ReceivedPartial> f = new CompletableFuture<>();
    pending.put(id, f);
    synchronized (this) {
      stream.onNext(request.toBuilder().setDispatchId(id).build());
    }
    return f.orTimeout(deadline.toMillis(), TimeUnit.MILLISECONDS)
        .whenComplete((r, e) -> pending.remove(id));
  }

  private void fail(Status status) {
    alive = false;
    StatusRuntimeException e = status.asRuntimeException();
    pending.values().forEach(f -> f.completeExceptionally(e));
  }

  private final class Responses implements StreamObserver<ReceivedPartial> {
    @Override
    public void onNext(ReceivedPartial r) {
      CompletableFuture<ReceivedPartial> f = pending.get(r.dispatchId());
      if (f == null) {
        return;
      }
      if (r.error() != null) {
        f.completeExceptionally(r.error().asRuntimeException());
      } else {
        f.complete(r);
      }
    }

    @Override
    public void onError(Throwable t) {
      fail(Status.fromThrowable(t));
    }

    @Override
    public void onCompleted() {
      fail(Status.UNAVAILABLE.withDescription("the pool closed the dispatch stream"));
    }
  }

  @Override
  public void close() {
    alive = false;
    synchronized (this) {
      try {
        stream.onCompleted();
      } catch (RuntimeException ignored) {
        // Already broken; the channel goes anyway.
      }
    }
    channel.shutdownNow();
  }
}
