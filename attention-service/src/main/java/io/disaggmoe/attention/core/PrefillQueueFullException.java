package io.disaggmoe.attention.core;

/** A prompt that would take the prefill queue past its token limit; the caller may try another. */
public final class PrefillQueueFullException extends RuntimeException {
  public PrefillQueueFullException(String message) {
    super(message);
  }
}
