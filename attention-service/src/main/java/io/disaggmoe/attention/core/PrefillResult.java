package io.disaggmoe.attention.core;

import io.disaggmoe.model.sampling.CompletionStep;
import io.disaggmoe.model.sampling.SampledToken;
import java.util.List;

/**
 * A prefilled request: its first token, where its latent cache now lives (the chain hashes of its
 * full blocks; the rest is the tail under its request id), and how much was reused.
 *
 * @param logits {@code [computedTokens, vocab]} when asked for, else null
 * @param promptLogprobs for prompt tokens 1.. (each given those before it), when asked for, else
 *     empty
 */
public record PrefillResult(
    CompletionStep first,
    List<byte[]> blockHashes,
    int cacheTokens,
    int cachedTokens,
    int computedTokens,
    float[] logits,
    List<SampledToken> promptLogprobs) {}
