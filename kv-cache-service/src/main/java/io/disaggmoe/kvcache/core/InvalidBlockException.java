package io.disaggmoe.kvcache.core;

import io.disaggmoe.proto.errors.InvalidRequestException;

/** A block or request that cannot be stored as sent: bad header, size or checksum. */
public final class InvalidBlockException extends InvalidRequestException {
  public InvalidBlockException(String message) {
    super(message);
  }
}
