package io.disaggmoe.attention.core;

import io.disaggmoe.proto.errors.UnavailableException;

/** The engine's loop stopped on a failure it could not contain; the instance no longer serves. */
public final class EngineStoppedException extends UnavailableException {
  public EngineStoppedException(String message, Throwable cause) {
    super(message, cause);
  }
}
