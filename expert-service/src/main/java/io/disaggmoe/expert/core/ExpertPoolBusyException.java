package io.disaggmoe.expert.core;

/** The pool holds as many queued dispatches as its limit allows; a later try may succeed. */
public final class ExpertPoolBusyException extends RuntimeException {
  public ExpertPoolBusyException(String message) {
    super(message);
  }
}
