package io.disaggmoe.gateway.core;

import io.disaggmoe.proto.v1.SamplingParams;
import io.opentelemetry.context.Context;
import java.time.Duration;
import java.time.Instant;

/**
 * One choice to generate: a unique request id, the tenant (the prefix cache's salt), the prompt's
 * token ids, sampling parameters already validated by the gateway, how many alternatives each
 * prompt token's log probability should come with (-1: none wanted), the trace it belongs to (every
 * call to a stage is made under it), and the client's deadline, which bounds every call's time
 * limit.
 */
public record GenerationRequest(
    String requestId,
    String tenant,
    int[] promptIds,
    SamplingParams sampling,
    int promptLogprobs,
    Context traceContext,
    Instant deadline) {
  /** No deadline of the client's own: the gateway's time limits apply. */
  public static final Instant NO_DEADLINE = Instant.MAX;

  /** The time left before the client's deadline, at most {@code limit}. */
  Duration within(Duration limit) {
    if (deadline.equals(NO_DEADLINE)) {
      return limit;
    }
    Duration left = Duration.between(Instant.now(), deadline);
    return left.compareTo(limit) < 0 ? (left.isNegative() ? Duration.ZERO : left) : limit;
  }
}
