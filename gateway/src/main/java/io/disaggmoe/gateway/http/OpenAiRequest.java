package io.disaggmoe.gateway.http;

import io.disaggmoe.proto.v1.SamplingParams;
import java.util.List;

/**
 * A validated {@code /v1/completions} or {@code /v1/chat/completions} request: the prompts as token
 * ids (one for chat; one or more for completions), the prompt texts for {@code echo}, and what
 * shapes the answer.
 *
 * @param continuousUsage vLLM's {@code stream_options.continuous_usage_stats} beside {@code
 *     include_usage}: every chunk carries its choice's usage so far
 * @param completionLogprobs completions' {@code logprobs} (alternatives per token), or -1 for none
 * @param workerIds {@code nvext.extra_fields} holds {@code worker_id}: each choice names the
 *     instances that served it
 * @param responses what a Responses API request echoes in its reply; null for the other APIs
 */
record OpenAiRequest(
    boolean chat,
    String model,
    List<int[]> prompts,
    List<String> promptTexts,
    SamplingParams sampling,
    int n,
    boolean stream,
    boolean includeUsage,
    boolean continuousUsage,
    boolean chatLogprobs,
    int completionLogprobs,
    boolean echo,
    boolean workerIds,
    ResponsesOptions responses) {
  /** This chat request as a Responses API request, echoing {@code options}. */
  OpenAiRequest asResponses(ResponsesOptions options) {
    return new OpenAiRequest(
        chat,
        model,
        prompts,
        promptTexts,
        sampling,
        n,
        stream,
        includeUsage,
        continuousUsage,
        chatLogprobs,
        completionLogprobs,
        echo,
        workerIds,
        options);
  }

  int choices() {
    return prompts.size() * n;
  }

  /** Tokens this request may hold in a tenant's budget: its prompts and their outputs. */
  int tokenBudget() {
    long total = 0;
    for (int[] p : prompts) {
      total += (long) n * (p.length + sampling.getMaxTokens());
    }
    return (int) Math.min(Integer.MAX_VALUE, total);
  }
}
