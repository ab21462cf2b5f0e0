package io.disaggmoe.model.sampling;

/** A token and its log probability under the model's raw distribution. */
public record TokenLogprob(int tokenId, float logprob) {}
