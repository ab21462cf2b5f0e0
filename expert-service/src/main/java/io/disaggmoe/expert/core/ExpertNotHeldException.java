package io.disaggmoe.expert.core;

/** A dispatch names a real expert that this pool's placement does not hold. */
public final class ExpertNotHeldException extends RuntimeException {
  public ExpertNotHeldException(String message) {
    super(message);
  }
}
