package io.disaggmoe.attention.core;

import io.disaggmoe.model.sampling.SamplingParams;
import java.util.List;

/**
 * A request to decode: its prompt, the tokens sampled so far, and its prefill's cache handle
 * ({@code blockHashes}, plus the tail under {@code requestId} up to {@code cacheTokens}). Joining
 * looks up every full block of prompt + generated, so blocks that another decode instance wrote
 * back count too; the handle's hashes must agree with them. With no token generated yet (no prefill
 * instance could take the prompt) the decode instance computes the prompt itself and samples the
 * first token.
 */
public record DecodeJob(
    String requestId,
    String tenant,
    int[] prompt,
    int[] generated,
    List<byte[]> blockHashes,
    int cacheTokens,
    SamplingParams params,
    boolean returnLogits) {
  public DecodeJob {
    if (requestId.isEmpty()) {
      throw new IllegalArgumentException("request_id is empty");
    }
    if (prompt.length == 0) {
      throw new IllegalArgumentException("prompt_ids is empty");
    }
    if (cacheTokens > prompt.length + generated.length - 1) {
      throw new IllegalArgumentException(
          "the cache handle covers "
              + cacheTokens
              + " tokens, more than the "
              + (prompt.length + generated.length - 1)
              + " before the last generated token");
    }
  }
}
