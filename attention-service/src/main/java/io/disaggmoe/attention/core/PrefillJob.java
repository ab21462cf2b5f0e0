package io.disaggmoe.attention.core;

import io.disaggmoe.model.sampling.SamplingParams;

/**
 * One prompt to prefill; {@code returnLogits} asks for the logits of every computed position, and
 * {@code promptLogprobs} (>= 0; -1 for none) for each prompt token's log probability given the
 * tokens before it, with that many alternatives, which makes the whole prompt computed.
 */
public record PrefillJob(
    String requestId,
    String tenant,
    int[] prompt,
    SamplingParams params,
    boolean returnLogits,
    int promptLogprobs) {
  public PrefillJob(
      String requestId, String tenant, int[] prompt, SamplingParams params, boolean returnLogits) {
    this(requestId, tenant, prompt, params, returnLogits, -1);
  }

  public PrefillJob {
    if (promptLogprobs > SamplingParams.MAX_TOP_LOGPROBS) {
      throw new IllegalArgumentException(
          "prompt_logprobs must be at most " + SamplingParams.MAX_TOP_LOGPROBS);
    }
    if (requestId.isEmpty()) {
      throw new IllegalArgumentException("request_id is empty");
    }
    if (prompt.length == 0) {
      throw new IllegalArgumentException("prompt_ids is empty");
    }
  }
}
