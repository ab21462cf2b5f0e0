package io.disaggmoe.proto.errors;

/** The caller sent what can never succeed: out of bounds, malformed, inconsistent. */
public non-sealed class InvalidRequestException extends ServiceException {
  public InvalidRequestException(String message) {
    super(message);
  }

  public InvalidRequestException(String message, Throwable cause) {
    super(message, cause);
  }
}
