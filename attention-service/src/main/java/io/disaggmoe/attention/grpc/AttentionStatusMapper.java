package io.disaggmoe.attention.grpc;

import io.disaggmoe.attention.core.ExpertPoolUnavailableException;
import io.grpc.Status;

/** The one place where the attention instance's failures become gRPC statuses. */
final class AttentionStatusMapper {
  private AttentionStatusMapper() {}

  static Status toStatus(Throwable t) {
    return switch (t) {
      case ExpertPoolUnavailableException e -> Status.UNAVAILABLE.withDescription(e.getMessage());
      case IllegalArgumentException e -> Status.INVALID_ARGUMENT.withDescription(e.getMessage());
      default -> Status.INTERNAL.withDescription(String.valueOf(t.getMessage())).withCause(t);
    };
  }
}
