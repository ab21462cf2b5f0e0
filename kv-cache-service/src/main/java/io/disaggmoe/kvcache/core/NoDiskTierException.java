package io.disaggmoe.kvcache.core;

/** A durable put reached a store that has no disk tier to make it durable on. */
public final class NoDiskTierException extends IllegalStateException {
  public NoDiskTierException(String message) {
    super(message);
  }
}
