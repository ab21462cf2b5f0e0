package io.disaggmoe.expert.grpc;

import io.disaggmoe.expert.core.ExpertNotHeldException;
import io.disaggmoe.expert.core.ExpertPoolBusyException;
import io.disaggmoe.expert.core.ExpertPoolClosedException;
import io.disaggmoe.expert.core.InvalidDispatchException;
import io.grpc.Status;

/** The one place where the pool's failures become gRPC statuses. */
final class ExpertStatusMapper {
  private ExpertStatusMapper() {}

  static Status toStatus(Throwable t) {
    return switch (t) {
      case InvalidDispatchException e -> Status.INVALID_ARGUMENT.withDescription(e.getMessage());
      // Malformed tensors (dtype, shape, data length) are rejected by the wire codec.
      case IllegalArgumentException e -> Status.INVALID_ARGUMENT.withDescription(e.getMessage());
      case ExpertNotHeldException e -> Status.FAILED_PRECONDITION.withDescription(e.getMessage());
      case ExpertPoolClosedException e -> Status.UNAVAILABLE.withDescription(e.getMessage());
      case ExpertPoolBusyException e -> Status.RESOURCE_EXHAUSTED.withDescription(e.getMessage());
      default -> Status.INTERNAL.withDescription(String.valueOf(t.getMessage())).withCause(t);
    };
  }
}
