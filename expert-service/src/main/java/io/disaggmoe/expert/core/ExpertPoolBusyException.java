package io.disaggmoe.expert.core;

import io.disaggmoe.proto.errors.ResourceExhaustedException;

/** The pool holds as many queued dispatches as its limit allows; a later try may succeed. */
public final class ExpertPoolBusyException extends ResourceExhaustedException {
  public ExpertPoolBusyException(String message) {
    super(message);
  }
}
