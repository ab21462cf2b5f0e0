package io.disaggmoe.model.sampling;

/**
 * What one sampled token adds to a request's output.
 *
 * @param text the text that may be shown now (possibly empty: half a character, or text that could
 *     still begin a stop string, is held back)
 * @param finishReason why the request ended with this token, or null while it goes on
 */
public record CompletionStep(SampledToken token, String text, FinishReason finishReason) {
  public boolean finished() {
    return finishReason != null;
  }
}
