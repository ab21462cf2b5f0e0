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
  private final TextTokenizer tokenizer;
  private final SamplingParams params;
  private final Sampler sampler;
  private final StreamingDetokenizer detokenizer;
  private final StopStringMatcher stops;
  private int[] output = new int[16];
  private int generated;
  private FinishReason finishReason;

  public Completion(TextTokenizer tokenizer, SamplingParams params, int[] promptIds, int vocab) {
    this.tokenizer = tokenizer;
    this.params = params;
    this.sampler = new Sampler(params, promptIds, vocab);
    this.detokenizer = new StreamingDetokenizer(tokenizer, params.skipSpecialTokens());
    this.stops = new StopStringMatcher(params.stop());
  }

  /** Samples from this request's logits for the next position. */
  public CompletionStep step(float[] logits) {
    if (finishReason != null) {
      throw new IllegalStateException("the request already finished (" + finishReason + ")");
    }
    SampledToken token = sampler.sample(logits);
    int id = token.tokenId();
    if (generated == output.length) {
      output = Arrays.copyOf(output, 2 * generated);
    }
    output[generated++] = id;
    boolean stopToken =
        (!params.ignoreEos() && id == tokenizer.eosTokenId()) || params.stopTokenIds().contains(id);
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
    return new CompletionStep(token, text, finishReason);
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
