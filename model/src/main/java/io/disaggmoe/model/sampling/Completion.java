package io.disaggmoe.model.sampling;

import io.disaggmoe.model.text.StopStringMatcher;
import io.disaggmoe.model.text.StreamingDetokenizer;
import io.disaggmoe.model.text.TextTokenizer;
import java.util.Arrays;

/**
 * One request's output side: samples each token, turns it into streamable text, and decides when
 * the request ends (EOS, a stop token id, a stop string, or max tokens).
 *
 * <p>It knows nothing of the model; whoever runs the forward passes feeds it that request's logits,
 * so a prefill instance, a decode batch and the CLI share it.
 */
public final class Completion {
  private final int eosTokenId;
  private final SamplingParams params;
  private final Sampler sampler;
  private final StreamingDetokenizer detokenizer;
  private final StopStringMatcher stops;
  private int[] output = new int[16];
  private int generated;
  private FinishReason finishReason;

  public Completion(TextTokenizer tokenizer, SamplingParams params, int[] promptIds, int vocab) {
    this(
        tokenizer.eosTokenId(),
        params,
        promptIds,
        vocab,
        new StreamingDetokenizer(tokenizer, params.skipSpecialTokens()));
  }

  private Completion(
      int eosTokenId,
      SamplingParams params,
      int[] promptIds,
      int vocab,
      StreamingDetokenizer detokenizer) {
    this.eosTokenId = eosTokenId;
    this.params = params;
    this.sampler = new Sampler(params, promptIds, vocab);
    this.detokenizer = detokenizer;
    this.stops = new StopStringMatcher(params.stop(), params.includeStopStrInOutput());
  }

  /**
   * A completion of token ids alone, for a model served without its tokenizer: no text, and it ends
   * on {@code eosTokenId}, a stop token id or max tokens. Stop strings need text and are refused.
   */
  public static Completion idsOnly(
      SamplingParams params, int[] promptIds, int vocab, int eosTokenId) {
    if (!params.stop().isEmpty()) {
      throw new InvalidSamplingParamsException(
          "stop", "stop strings need a tokenizer, and this model is served without one");
    }
    return new Completion(eosTokenId, params, promptIds, vocab, null);
  }

  /**
   * Replays tokens sampled earlier for this request (by a prefill instance, or a decode instance
   * that went away), so that penalties, seeded draws, max tokens and held-back text continue as if
   * this completion had sampled them. The text they produce was already sent and is dropped.
   */
  public void resume(int[] generatedIds) {
    for (int id : generatedIds) {
      if (finishReason != null) {
        throw new IllegalStateException(
            "the request already finished (" + finishReason + ") within its generated ids");
      }
      sampler.replay(id);
      record(id);
    }
  }

  /** Samples from this request's logits for the next position. */
  public CompletionStep step(float[] logits) {
    if (finishReason != null) {
      throw new IllegalStateException("the request already finished (" + finishReason + ")");
    }
    SampledToken token = sampler.sample(generated < params.minTokens() ? noStop(logits) : logits);
    return new CompletionStep(token, record(token.tokenId()), finishReason);
  }

  /** The logits with every token that would end the request ruled out, for min_tokens. */
  private float[] noStop(float[] logits) {
    float[] x = logits.clone();
    if (!params.ignoreEos() && eosTokenId >= 0 && eosTokenId < x.length) {
      x[eosTokenId] = Float.NEGATIVE_INFINITY;
    }
    for (int id : params.stopTokenIds()) {
      if (id >= 0 && id < x.length) {
        x[id] = Float.NEGATIVE_INFINITY;
      }
    }
    return x;
  }

  /** Adds one token to the output and returns the text it releases. */
  private String record(int id) {
    if (generated == output.length) {
      output = Arrays.copyOf(output, 2 * generated);
    }
    output[generated++] = id;
    boolean stopToken =
        (!params.ignoreEos() && id == eosTokenId) || params.stopTokenIds().contains(id);
    if (detokenizer == null) {
      if (stopToken) {
        finishReason = FinishReason.STOP;
      } else if (generated >= params.maxTokens()) {
        finishReason = FinishReason.LENGTH;
      }
      return "";
    }
    String text = stopToken ? "" : stops.accept(detokenizer.next(id));
    if (stopToken || stops.stopped()) {
      finishReason = FinishReason.STOP;
    } else if (generated >= params.maxTokens()) {
      finishReason = FinishReason.LENGTH;
    }
    if (finishReason != null && !stops.stopped()) {
      text += stops.accept(detokenizer.finish());
      text += stops.flush();
      if (stops.stopped()) {
        finishReason = FinishReason.STOP;
      }
    }
    return text;
  }

  public boolean finished() {
    return finishReason != null;
  }

  /** Why the request ended, or null while it goes on. */
  public FinishReason finishReason() {
    return finishReason;
  }

  /** The ids sampled so far, the stop token included. */
  public int[] outputIds() {
    return Arrays.copyOf(output, generated);
  }
}
