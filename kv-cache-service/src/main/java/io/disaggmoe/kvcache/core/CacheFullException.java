package io.disaggmoe.kvcache.core;

/** A put that cannot fit: the budget is taken by pinned blocks (or the block exceeds it). */
public final class CacheFullException extends RuntimeException {
  public CacheFullException(String message) {
    super(message);
  }
}
