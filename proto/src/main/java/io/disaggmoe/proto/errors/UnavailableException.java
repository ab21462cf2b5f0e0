package io.disaggmoe.proto.errors;

/**
 * The service, or a peer it needs, cannot serve now (stopped, closing, unreachable); another
 * instance may.
 */
public non-sealed class UnavailableException extends ServiceException {
  public UnavailableException(String message) {
    super(message);
  }

  public UnavailableException(String message, Throwable cause) {
    super(message, cause);
  }
}
