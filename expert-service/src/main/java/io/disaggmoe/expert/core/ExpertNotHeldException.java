package io.disaggmoe.expert.core;

import io.disaggmoe.proto.errors.FailedPreconditionException;

/** A dispatch names a real expert that this pool's placement does not hold. */
public final class ExpertNotHeldException extends FailedPreconditionException {
  public ExpertNotHeldException(String message) {
    super(message);
  }
}
