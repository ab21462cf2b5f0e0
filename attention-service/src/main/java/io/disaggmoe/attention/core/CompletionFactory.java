package io.disaggmoe.attention.core;

import io.disaggmoe.model.config.ModelConfig;
import io.disaggmoe.model.sampling.Completion;
import io.disaggmoe.model.sampling.SamplingParams;
import io.disaggmoe.model.text.TextTokenizer;

/**
 * Makes each request's {@link Completion}: with text when the instance has the model's tokenizer,
 * token ids alone otherwise (a checkpoint shipped without one, or whose vocabulary is smaller).
 */
public final class CompletionFactory {
  private final TextTokenizer tokenizer;
  private final ModelConfig config;

  /** {@code tokenizer} may be null. */
  public CompletionFactory(TextTokenizer tokenizer, ModelConfig config) {
    boolean fits = tokenizer != null && tokenizer.tokenCount() <= config.vocabSize();
    this.tokenizer = fits ? tokenizer : null;
    this.config = config;
  }

  public Completion start(SamplingParams params, int[] promptIds, int[] alreadyGenerated) {
    Completion c =
        tokenizer == null
            ? Completion.idsOnly(params, promptIds, config.vocabSize(), config.eosTokenId())
            : new Completion(tokenizer, params, promptIds, tokenizer.tokenCount());
    c.resume(alreadyGenerated);
    return c;
  }
}
