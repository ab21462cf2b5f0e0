package io.disaggmoe.gateway.client;

import io.disaggmoe.gateway.core.AttentionStage;
import io.disaggmoe.gateway.core.Cancellable;
import io.disaggmoe.gateway.core.DecodeObserver;
import io.disaggmoe.gateway.core.StageException;
import io.disaggmoe.proto.v1.AttentionServiceGrpc;
import io.disaggmoe.proto.v1.AttentionStatus;
import io.disaggmoe.proto.v1.DecodeRequest;
import io.disaggmoe.proto.v1.DecodeResponse;
import io.disaggmoe.proto.v1.GetStatusRequest;
import io.disaggmoe.proto.v1.PrefillRequest;
import io.disaggmoe.proto.v1.PrefillResponse;
import io.disaggmoe.proto.wire.StageChannels;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import io.grpc.ManagedChannel;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * An attention instance over gRPC. Its status is polled in the background (routing reads the last
 * answer, so choosing an instance costs no call), and a circuit breaker opens after calls fail with
 * UNAVAILABLE, so requests skip an instance that is down until a probe gets through.
 */
public final class GrpcAttentionStage implements AttentionStage, AutoCloseable {
  private final String address;
  private final ManagedChannel channel;
  private final AttentionServiceGrpc.AttentionServiceStub stub;
  private final CircuitBreaker breaker;
  private final StatusPoll<AttentionStatus> status;

  public GrpcAttentionStage(
      String address, StageChannels channels, ScheduledExecutorService scheduler) {
    this.address = address;
    this.channel = channels.open(address, StageChannels.Kind.CALLS);
    this.stub = AttentionServiceGrpc.newStub(channel);
    this.breaker =
        CircuitBreaker.of(
            address,
            CircuitBreakerConfig.custom()
                .slidingWindowSize(10)
                .minimumNumberOfCalls(2)
                .failureRateThreshold(50)
                .waitDurationInOpenState(Duration.ofSeconds(2))
                // Half open after the wait even without a call, so that an instance that came
                // back counts as healthy again (GET /health) before any request tries it.
                .automaticTransitionFromOpenToHalfOpenEnabled(true)
                .permittedNumberOfCallsInHalfOpenState(1)
                .recordException(
                    t ->
                        t instanceof StageException s
                            && s.kind() == StageException.Kind.UNAVAILABLE)
                .build());
    this.status =
        new StatusPoll<>(
            scheduler,
            250,
            AttentionStatus.getDefaultInstance(),
            o ->
                stub.withDeadlineAfter(1, TimeUnit.SECONDS)
                    .getStatus(GetStatusRequest.getDefaultInstance(), o));
  }

  @Override
  public String address() {
    return address;
  }

  @Override
  public boolean healthy() {
    return status.answering() && breaker.getState() != CircuitBreaker.State.OPEN;
  }

  @Override
  public AttentionStatus status() {
    return status.latest();
  }

  @Override
  public String breaker() {
    return breaker.getState().name();
  }

  @Override
  public CompletableFuture<PrefillResponse> prefill(PrefillRequest request, Duration timeout) {
    CompletableFuture<PrefillResponse> f = new CompletableFuture<>();
    if (!breaker.tryAcquirePermission()) {
      return CompletableFuture.failedFuture(breakerOpen());
    }
    long start = breaker.getCurrentTimestamp();
    stub.withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS)
        .prefill(
            request,
            new ClientResponseObserver<PrefillRequest, PrefillResponse>() {
              @Override
              public void beforeStart(ClientCallStreamObserver<PrefillRequest> call) {
                // Cancelling the future cancels the call.
                f.whenComplete(
                    (r, e) -> {
                      if (f.isCancelled()) {
                        call.cancel("client went away", null);
                      }
                    });
              }

              @Override
              public void onNext(PrefillResponse r) {
                succeeded(start);
                f.complete(r);
              }

              @Override
              public void onError(Throwable t) {
                f.completeExceptionally(failed(start, t));
              }

              @Override
              public void onCompleted() {}
            });
    return f;
  }

  @Override
  public Cancellable decode(DecodeRequest request, Duration timeout, DecodeObserver observer) {
    if (!breaker.tryAcquirePermission()) {
      observer.onError(breakerOpen());
      return () -> {};
    }
    long start = breaker.getCurrentTimestamp();
    ClientCallStreamObserver<?>[] call = new ClientCallStreamObserver<?>[1];
    stub.withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS)
        .decode(
            request,
            new ClientResponseObserver<DecodeRequest, DecodeResponse>() {
              @Override
              public void beforeStart(ClientCallStreamObserver<DecodeRequest> c) {
                call[0] = c;
              }

              @Override
              public void onNext(DecodeResponse r) {
                observer.onResponse(r);
              }

              @Override
              public void onError(Throwable t) {
                observer.onError(failed(start, t));
              }

              @Override
              public void onCompleted() {
                succeeded(start);
                observer.onCompleted();
              }
            });
    return () -> call[0].cancel("client went away", null);
  }

  private StageException breakerOpen() {
    return new StageException(
        StageException.Kind.UNAVAILABLE, address, "circuit breaker open", null);
  }

  private void succeeded(long start) {
    breaker.onSuccess(breaker.getCurrentTimestamp() - start, breaker.getTimestampUnit());
  }

  /** The call's failure as a stage failure, counted by the breaker. */
  private StageException failed(long start, Throwable t) {
    StageException e = StageFailures.failure(address, t);
    breaker.onError(breaker.getCurrentTimestamp() - start, breaker.getTimestampUnit(), e);
    return e;
  }

  @Override
  public void close() {
    status.close();
    channel.shutdownNow();
  }
}
