package io.disaggmoe.attention.core;

import io.disaggmoe.proto.errors.ResourceExhaustedException;

/** A prompt that would take the prefill queue past its token limit; the caller may try another. */
public final class PrefillQueueFullException extends ResourceExhaustedException {
  public PrefillQueueFullException(String message) {
    super(message);
  }
}
