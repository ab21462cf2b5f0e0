package io.disaggmoe.proto.errors;

/**
 * A limit was reached (a queue, a budget, a capacity); the same request may succeed later or
 * elsewhere.
 */
public non-sealed class ResourceExhaustedException extends ServiceException {
  public ResourceExhaustedException(String message) {
    super(message);
  }

  public ResourceExhaustedException(String message, Throwable cause) {
    super(message, cause);
  }
}
