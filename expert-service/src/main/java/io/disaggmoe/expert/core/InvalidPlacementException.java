package io.disaggmoe.expert.core;

import io.disaggmoe.proto.errors.InvalidRequestException;

/** A placement this pool cannot take: a layer missing or not MoE, an expert that does not exist. */
public final class InvalidPlacementException extends InvalidRequestException {
  public InvalidPlacementException(String message) {
    super(message);
  }
}
