package io.disaggmoe.attention.core;

import io.disaggmoe.model.sampling.SamplingParams;

/** One prompt to prefill; {@code returnLogits} asks for the logits of every computed position. */
public record PrefillJob(
    String requestId, String tenant, int[] prompt, SamplingParams params, boolean returnLogits) {
  public PrefillJob {
    if (requestId.isEmpty()) {
      throw new IllegalArgumentException("request_id is empty");
    }
    if (prompt.length == 0) {
      throw new IllegalArgumentException("prompt_ids is empty");
    }
  }
}
