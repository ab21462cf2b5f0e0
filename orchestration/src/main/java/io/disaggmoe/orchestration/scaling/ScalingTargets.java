package io.disaggmoe.orchestration.scaling;

import java.time.Duration;

/**
 * What one replica of a stage should carry at most: prefill queued prompt tokens and time to first
 * token; decode KV usage, waiting requests and time per output token.
 */
public record ScalingTargets(
    long prefillQueuedTokens,
    Duration ttft,
    double decodeKvUsed,
    long decodeWaitingRequests,
    Duration tpot) {
  public static ScalingTargets defaults() {
    return new ScalingTargets(8192, Duration.ofSeconds(2), 0.8, 4, Duration.ofMillis(200));
  }
}
