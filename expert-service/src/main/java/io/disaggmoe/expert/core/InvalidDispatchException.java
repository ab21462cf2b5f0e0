package io.disaggmoe.expert.core;

import io.disaggmoe.proto.errors.InvalidRequestException;

/** A dispatch whose arguments can never be served: unknown layer or expert, NaN/Inf, bad shapes. */
public final class InvalidDispatchException extends InvalidRequestException {
  public InvalidDispatchException(String message) {
    super(message);
  }
}
