package io.disaggmoe.kvcache.core;

import io.disaggmoe.proto.errors.ResourceExhaustedException;

/** A put that cannot fit: the budget is taken by pinned blocks (or the block exceeds it). */
public final class CacheFullException extends ResourceExhaustedException {
  public CacheFullException(String message) {
    super(message);
  }
}
