package io.disaggmoe.attention.core;

/** The engine's loop stopped on a failure it could not contain; the instance no longer serves. */
public final class EngineStoppedException extends RuntimeException {
  public EngineStoppedException(String message, Throwable cause) {
    super(message, cause);
  }
}
