package io.disaggmoe.proto.wire;

import io.disaggmoe.proto.errors.FailedPreconditionException;
import io.disaggmoe.proto.errors.Failures;
import io.disaggmoe.proto.errors.InvalidRequestException;
import io.disaggmoe.proto.errors.ResourceExhaustedException;
import io.disaggmoe.proto.errors.ServiceException;
import io.disaggmoe.proto.errors.UnavailableException;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.StatusRuntimeException;
import java.util.concurrent.CancellationException;
import java.util.concurrent.TimeoutException;

/** The one place where every service's failures become gRPC statuses. */
public final class GrpcStatuses {
  private GrpcStatuses() {}

  /**
   * The status a caller gets for {@code failure}, looked through the layers futures add. Only a
   * failure nobody classified is INTERNAL (with the cause attached for the server's log); callers
   * never see UNKNOWN.
   */
  public static Status toStatus(Throwable failure) {
    Throwable t = Failures.unwrap(failure);
    return switch (t) {
      case ServiceException e -> byKind(e).withDescription(e.getMessage());
      case StatusRuntimeException e -> e.getStatus();
      case StatusException e -> e.getStatus();
      // The wire codec and the model's own checks (ids, tensors, sampling) reject input this way.
      case IllegalArgumentException e -> Status.INVALID_ARGUMENT.withDescription(e.getMessage());
      case TimeoutException e -> Status.DEADLINE_EXCEEDED.withDescription(e.getMessage());
      case CancellationException e -> Status.CANCELLED.withDescription(e.getMessage());
      // Under a flood one request may fail to allocate; the service goes on.
      case OutOfMemoryError e ->
          Status.RESOURCE_EXHAUSTED.withDescription("out of memory: " + e.getMessage());
      default -> Status.INTERNAL.withDescription(String.valueOf(t)).withCause(t);
    };
  }

  private static Status byKind(ServiceException e) {
    return switch (e) {
      case InvalidRequestException x -> Status.INVALID_ARGUMENT;
      case FailedPreconditionException x -> Status.FAILED_PRECONDITION;
      case ResourceExhaustedException x -> Status.RESOURCE_EXHAUSTED;
      case UnavailableException x -> Status.UNAVAILABLE;
    };
  }
}
