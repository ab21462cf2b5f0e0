package io.disaggmoe.expert.core;

/** A dispatch whose arguments can never be served: unknown layer or expert, NaN/Inf, bad shapes. */
public final class InvalidDispatchException extends RuntimeException {
  public InvalidDispatchException(String message) {
    super(message);
  }
}
