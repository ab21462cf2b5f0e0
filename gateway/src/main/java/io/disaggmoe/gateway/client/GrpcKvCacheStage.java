package io.disaggmoe.gateway.client;

import io.disaggmoe.gateway.core.KvCacheStage;
import io.disaggmoe.proto.v1.GetStatsRequest;
import io.disaggmoe.proto.v1.KvCacheServiceGrpc;
import io.disaggmoe.proto.v1.KvCacheStats;
import io.disaggmoe.proto.v1.UnpinRequest;
import io.disaggmoe.proto.v1.UnpinResponse;
import io.disaggmoe.proto.wire.StageChannels;
import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.grpc.stub.StreamObserver;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/** kv-cache-service over gRPC: polled for health, and told when a request's pins can go. */
public final class GrpcKvCacheStage implements KvCacheStage, AutoCloseable {
  private final String address;
  private final ManagedChannel channel;
  private final KvCacheServiceGrpc.KvCacheServiceStub stub;
  private final StatusPoll<KvCacheStats> stats;

  public GrpcKvCacheStage(
      String address, StageChannels channels, ScheduledExecutorService scheduler) {
    this.address = address;
    this.channel = channels.open(address, StageChannels.Kind.CALLS);
    this.stub = KvCacheServiceGrpc.newStub(channel);
    this.stats =
        new StatusPoll<>(
            scheduler,
            500,
            KvCacheStats.getDefaultInstance(),
            o ->
                stub.withDeadlineAfter(1, TimeUnit.SECONDS)
                    .getStats(GetStatsRequest.getDefaultInstance(), o));
  }

  @Override
  public String address() {
    return address;
  }

  @Override
  public boolean healthy() {
    return stats.answering();
  }

  /**
   * Sends the unpin outside the caller's cancellation: a request is most often unpinned because its
   * own call was cancelled, and a call started in a cancelled gRPC context fails at once, which
   * left the prefill's blocks pinned until their lease ran out (5 minutes by default).
   */
  @Override
  public void unpin(String requestId) {
    Context.current()
        .fork()
        .run(
            () ->
                stub.withDeadlineAfter(5, TimeUnit.SECONDS)
                    .unpin(
                        UnpinRequest.newBuilder().setRequestId(requestId).build(),
                        new StreamObserver<UnpinResponse>() {
                          @Override
                          public void onNext(UnpinResponse value) {}

                          @Override
                          public void onError(Throwable t) {
                            // The lease ends with its TTL.
                          }

                          @Override
                          public void onCompleted() {}
                        }));
  }

  @Override
  public void close() {
    stats.close();
    channel.shutdownNow();
  }
}
