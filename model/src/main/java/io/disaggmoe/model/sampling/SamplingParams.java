package io.disaggmoe.model.sampling;

import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One request's sampling controls, with the meaning the OpenAI API (and vLLM, for the controls
 * OpenAI lacks) gives them.
 *
 * @param temperature 0 is greedy; otherwise logits are divided by it
 * @param topP nucleus mass in (0, 1]; 1 keeps every token
 * @param topK keep the k most likely tokens; 0 or -1 keeps all
 * @param minP drop tokens less likely than minP times the most likely one; 0 keeps all
 * @param seed seeds this request's own random stream, or null for a random one
 * @param presencePenalty subtracted once from each token already generated, in [-2, 2]
 * @param frequencyPenalty subtracted per occurrence of each token already generated, in [-2, 2]
 * @param repetitionPenalty divides positive (multiplies negative) logits of tokens seen in the
 *     prompt or the output; 1 is off
 * @param logitBias added to the logits of the given token ids, each in [-100, 100]
 * @param stopTokenIds sampling one of these ends the request; it is not part of the text
 * @param stop strings that end the request when they appear in the text; not part of the text
 * @param maxTokens at most this many tokens are generated
 * @param ignoreEos keep going past the EOS token
 * @param logprobs return the chosen token's log probability
 * @param topLogprobs also return this many most likely alternatives, 0 to 20
 * @param skipSpecialTokens leave special tokens out of the text
 * @param minTokens neither EOS nor a stop token id can be sampled before this many tokens
 * @param includeStopStrInOutput a matched stop string ends the text instead of being cut (vLLM)
 */
public record SamplingParams(
    double temperature,
    double topP,
    int topK,
    double minP,
    Long seed,
    double presencePenalty,
    double frequencyPenalty,
    double repetitionPenalty,
    Map<Integer, Float> logitBias,
    Set<Integer> stopTokenIds,
    List<String> stop,
    int maxTokens,
    boolean ignoreEos,
    boolean logprobs,
    int topLogprobs,
    boolean skipSpecialTokens,
    int minTokens,
    boolean includeStopStrInOutput) {

  public static final int MAX_TOP_LOGPROBS = 20;

  public SamplingParams {
    logitBias = Map.copyOf(logitBias);
    stopTokenIds = Set.copyOf(stopTokenIds);
    stop = List.copyOf(stop);
    check(temperature >= 0 && Double.isFinite(temperature), "temperature", "must be >= 0");
    check(topP > 0 && topP <= 1, "top_p", "must be in (0, 1]");
    check(topK >= -1, "top_k", "must be -1, 0 (both off) or a positive count");
    check(minP >= 0 && minP <= 1, "min_p", "must be in [0, 1]");
    check(presencePenalty >= -2 && presencePenalty <= 2, "presence_penalty", "must be in [-2, 2]");
    check(
        frequencyPenalty >= -2 && frequencyPenalty <= 2, "frequency_penalty", "must be in [-2, 2]");
    check(
        repetitionPenalty > 0 && Double.isFinite(repetitionPenalty),
        "repetition_penalty",
        "must be > 0");
    check(maxTokens >= 1, "max_tokens", "must be at least 1");
    check(minTokens >= 0 && minTokens <= maxTokens, "min_tokens", "must be in [0, max_tokens]");
    check(
        topLogprobs >= 0 && topLogprobs <= MAX_TOP_LOGPROBS,
        "top_logprobs",
        "must be in [0, " + MAX_TOP_LOGPROBS + "]");
    check(!(topLogprobs > 0 && !logprobs), "top_logprobs", "needs logprobs to be true");
    for (var bias : logitBias.entrySet()) {
      check(
          bias.getValue() >= -100 && bias.getValue() <= 100,
          "logit_bias",
          "value for token " + bias.getKey() + " must be in [-100, 100]");
    }
    for (String s : stop) {
      check(!s.isEmpty(), "stop", "strings must not be empty");
    }
  }

  /** OpenAI's defaults: temperature 1, no truncation, no penalties, 16 tokens. */
  public static Builder builder() {
    return new Builder();
  }

  public boolean greedy() {
    return temperature == 0 || topK == 1;
  }

  public Builder toBuilder() {
    return new Builder()
        .temperature(temperature)
        .topP(topP)
        .topK(topK)
        .minP(minP)
        .seed(seed)
        .presencePenalty(presencePenalty)
        .frequencyPenalty(frequencyPenalty)
        .repetitionPenalty(repetitionPenalty)
        .logitBias(logitBias)
        .stopTokenIds(stopTokenIds)
        .stop(stop)
        .maxTokens(maxTokens)
        .ignoreEos(ignoreEos)
        .logprobs(logprobs)
        .topLogprobs(topLogprobs)
        .skipSpecialTokens(skipSpecialTokens)
        .minTokens(minTokens)
        .includeStopStrInOutput(includeStopStrInOutput);
  }

  private static void check(boolean ok, String field, String rule) {
    if (!ok) {
      throw new InvalidSamplingParamsException(field, field + " " + rule);
    }
  }

  /** Builds {@link SamplingParams}; unset fields keep OpenAI's defaults. */
  public static final class Builder {
    private double temperature = 1;
    private double topP = 1;
    private int topK = 0;
    private double minP = 0;
    private Long seed;
    private double presencePenalty;
    private double frequencyPenalty;
    private double repetitionPenalty = 1;
    private Map<Integer, Float> logitBias = Map.of();
    private Set<Integer> stopTokenIds = Set.of();
    private List<String> stop = List.of();
    private int maxTokens = 16;
    private boolean ignoreEos;
    private boolean logprobs;
    private int topLogprobs;
    private boolean skipSpecialTokens = true;
    private int minTokens;
    private boolean includeStopStrInOutput;

    private Builder() {}

    public Builder temperature(double v) {
      temperature = v;
      return this;
    }

    public Builder topP(double v) {
      topP = v;
      return this;
    }

    public Builder topK(int v) {
      topK = v;
      return this;
    }

    public Builder minP(double v) {
      minP = v;
      return this;
    }

    public Builder seed(Long v) {
      seed = v;
      return this;
    }

    public Builder presencePenalty(double v) {
      presencePenalty = v;
      return this;
    }

    public Builder frequencyPenalty(double v) {
      frequencyPenalty = v;
      return this;
    }

    public Builder repetitionPenalty(double v) {
      repetitionPenalty = v;
      return this;
    }

    public Builder logitBias(Map<Integer, Float> v) {
      logitBias = v;
      return this;
    }

    public Builder stopTokenIds(Set<Integer> v) {
      stopTokenIds = v;
      return this;
    }

    public Builder stop(List<String> v) {
      stop = v;
      return this;
    }

    public Builder maxTokens(int v) {
      maxTokens = v;
      return this;
    }

    public Builder ignoreEos(boolean v) {
      ignoreEos = v;
      return this;
    }

    public Builder logprobs(boolean v) {
      logprobs = v;
      return this;
    }

    public Builder topLogprobs(int v) {
      topLogprobs = v;
      return this;
    }

    public Builder skipSpecialTokens(boolean v) {
      skipSpecialTokens = v;
      return this;
    }

    public Builder minTokens(int v) {
      minTokens = v;
      return this;
    }

    public Builder includeStopStrInOutput(boolean v) {
      includeStopStrInOutput = v;
      return this;
    }

    public SamplingParams build() {
      return new SamplingParams(
          temperature,
          topP,
          topK,
          minP,
          seed,
          presencePenalty,
          frequencyPenalty,
          repetitionPenalty,
          logitBias,
          stopTokenIds,
          stop,
          maxTokens,
          ignoreEos,
          logprobs,
          topLogprobs,
          skipSpecialTokens,
          minTokens,
          includeStopStrInOutput);
    }
  }
}
