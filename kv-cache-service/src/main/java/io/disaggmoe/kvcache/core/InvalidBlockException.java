package io.disaggmoe.kvcache.core;

/** A block or request that cannot be stored as sent: bad header, size or checksum. */
public final class InvalidBlockException extends IllegalArgumentException {
  public InvalidBlockException(String message) {
    super(message);
  }
}
