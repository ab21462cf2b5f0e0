package io.disaggmoe.kvcache.core;

import io.disaggmoe.proto.errors.FailedPreconditionException;

/** A durable put reached a store that has no disk tier to make it durable on. */
public final class NoDiskTierException extends FailedPreconditionException {
  public NoDiskTierException(String message) {
    super(message);
  }
}
