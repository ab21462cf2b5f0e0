package io.disaggmoe.attention.core;

import io.disaggmoe.proto.errors.ResourceExhaustedException;

/** A request whose latent cache alone would exceed the instance's KV memory budget. */
public final class KvBudgetExceededException extends ResourceExhaustedException {
  public KvBudgetExceededException(String message) {
    super(message);
  }
}
