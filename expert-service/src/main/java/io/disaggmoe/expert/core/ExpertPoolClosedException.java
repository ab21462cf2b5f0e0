package io.disaggmoe.expert.core;

import io.disaggmoe.proto.errors.UnavailableException;

/** A dispatch that reached a pool after it began shutting down. */
public final class ExpertPoolClosedException extends UnavailableException {
  public ExpertPoolClosedException(String message) {
    super(message);
  }
}
