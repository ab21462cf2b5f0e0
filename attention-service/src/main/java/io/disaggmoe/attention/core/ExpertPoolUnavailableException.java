package io.disaggmoe.attention.core;

/** No live expert pool could run a layer's experts: the step fails with UNAVAILABLE. */
public final class ExpertPoolUnavailableException extends RuntimeException {
  public ExpertPoolUnavailableException(String message, Throwable cause) {
    super(message, cause);
  }
}
