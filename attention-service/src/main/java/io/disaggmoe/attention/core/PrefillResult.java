package io.disaggmoe.attention.core;

import io.disaggmoe.model.sampling.CompletionStep;
import java.util.List;

/**
 * A prefilled request: its first token, where its latent cache now lives (the chain hashes of its
 * full blocks; the rest is the tail under its request id), and how much was reused.
 *
 * @param logits {@code [computedTokens, vocab]} when asked for, else null
 */
public record PrefillResult(
    CompletionStep first,
    List<byte[]> blockHashes,
    int cacheTokens,
    int cachedTokens,
    int computedTokens,
    float[] logits) {}
