package io.disaggmoe.gateway.core;

import io.disaggmoe.proto.v1.SamplingParams;
import io.opentelemetry.context.Context;

/**
 * One choice to generate: a unique request id, the tenant (the prefix cache's salt), the prompt's
 * token ids, sampling parameters already validated by the gateway, how many alternatives each
 * prompt token's log probability should come with (-1: none wanted), and the trace it belongs to
 * (every call to a stage is made under it).
 */
public record GenerationRequest(
    String requestId,
    String tenant,
    int[] promptIds,
    SamplingParams sampling,
    int promptLogprobs,
    Context traceContext) {}
