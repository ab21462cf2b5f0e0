package io.disaggmoe.gateway.core;

import io.disaggmoe.proto.v1.AttentionStatus;
import io.disaggmoe.proto.v1.DecodeRequest;
import io.disaggmoe.proto.v1.PrefillRequest;
import io.disaggmoe.proto.v1.PrefillResponse;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/** One attention instance (prefill or decode role) as the gateway calls it. */
public interface AttentionStage {
  /** {@code host:port}. */
  String address();

  /** Its circuit breaker lets calls through and its last status poll answered. */
  boolean healthy();

  /** Its circuit breaker's state: CLOSED, OPEN or HALF_OPEN. */
  String breaker();

  /** The status it last reported (queued tokens, running requests, free KV bytes). */
  AttentionStatus status();

  /** Fails with a {@link StageException}. */
  CompletableFuture<PrefillResponse> prefill(PrefillRequest request, Duration timeout);

  Cancellable decode(DecodeRequest request, Duration timeout, DecodeObserver observer);
}
