package io.disaggmoe.attention.core;

/** A request whose latent cache alone would exceed the instance's KV memory budget. */
public final class KvBudgetExceededException extends RuntimeException {
  public KvBudgetExceededException(String message) {
    super(message);
  }
}
