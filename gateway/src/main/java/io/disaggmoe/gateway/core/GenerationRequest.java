package io.disaggmoe.gateway.core;

import io.disaggmoe.proto.v1.SamplingParams;
import io.opentelemetry.context.Context;

/**
 * One choice to generate: a unique request id, the tenant (the prefix cache's salt), the prompt's
 * token ids, sampling parameters already validated by the gateway, and the trace it belongs to
 * (every call to a stage is made under it).
 */
public record GenerationRequest(
    String requestId,
    String tenant,
    int[] promptIds,
    SamplingParams sampling,
    Context traceContext) {}
