package io.disaggmoe.attention.core;

import io.disaggmoe.proto.errors.UnavailableException;

/** No live expert pool could run a layer's experts: the step fails with UNAVAILABLE. */
public final class ExpertPoolUnavailableException extends UnavailableException {
  public ExpertPoolUnavailableException(String message, Throwable cause) {
    super(message, cause);
  }
}
