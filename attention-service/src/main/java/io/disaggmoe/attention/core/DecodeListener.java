package io.disaggmoe.attention.core;

import io.disaggmoe.model.sampling.CompletionStep;
import io.disaggmoe.model.sampling.FinishReason;

/** Receives one decode request's output, on the decode loop's thread. */
public interface DecodeListener {
  /** A sampled token; {@code logits} are those it was sampled from, when they were asked for. */
  void onStep(CompletionStep step, float[] logits);

  /** The request ended (after its last {@link #onStep}, or at once if it had already ended). */
  void onDone(FinishReason reason);

  /** The request failed; nothing follows. */
  void onError(RuntimeException e);
}
