package io.disaggmoe.gateway.client;

import io.disaggmoe.gateway.core.StageException;
import io.grpc.Status;

/** The one mapping from stages' gRPC statuses to the gateway's stage failures. */
final class StageFailures {
  private StageFailures() {}

  static StageException failure(String address, Throwable t) {
    Status s = Status.fromThrowable(t);
    String message = s.getCode() + (s.getDescription() == null ? "" : ": " + s.getDescription());
    StageException.Kind kind =
        switch (s.getCode()) {
          case UNAVAILABLE, ABORTED -> StageException.Kind.UNAVAILABLE;
          case RESOURCE_EXHAUSTED -> StageException.Kind.OVERLOADED;
          case INVALID_ARGUMENT, OUT_OF_RANGE -> StageException.Kind.INVALID;
          case DEADLINE_EXCEEDED -> StageException.Kind.DEADLINE;
          default -> StageException.Kind.FAILED;
        };
    return new StageException(kind, address, message, t);
  }
}
