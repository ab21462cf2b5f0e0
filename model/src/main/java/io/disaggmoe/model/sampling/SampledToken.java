package io.disaggmoe.model.sampling;

import java.util.List;

/**
 * One sampled token.
 *
 * @param logprob the token's log probability, or null when logprobs were not requested
 * @param topLogprobs the most likely alternatives, most likely first (empty unless requested)
 */
public record SampledToken(int tokenId, TokenLogprob logprob, List<TokenLogprob> topLogprobs) {}
