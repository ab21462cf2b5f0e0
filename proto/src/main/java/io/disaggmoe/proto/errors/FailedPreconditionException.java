package io.disaggmoe.proto.errors;

/**
 * The request is well formed but the service is not in a state to run it (an expert it does not
 * hold, a disk tier it lacks); retrying here does not help.
 */
public non-sealed class FailedPreconditionException extends ServiceException {
  public FailedPreconditionException(String message) {
    super(message);
  }

  public FailedPreconditionException(String message, Throwable cause) {
    super(message, cause);
  }
}
