package io.disaggmoe.gateway.core;

import io.disaggmoe.proto.v1.SamplingParams;

/**
 * One choice to generate: a unique request id, the tenant (the prefix cache's salt), the prompt's
 * token ids, and sampling parameters already validated by the gateway.
 */
public record GenerationRequest(
    String requestId, String tenant, int[] promptIds, SamplingParams sampling) {}
