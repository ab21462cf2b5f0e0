package io.disaggmoe.expert.core;

/** A dispatch that reached a pool after it began shutting down. */
public final class ExpertPoolClosedException extends IllegalStateException {
  public ExpertPoolClosedException(String message) {
    super(message);
  }
}
