package io.disaggmoe.proto.errors;

/**
 * A failure a service's core reports to its caller, by kind. Cores throw a subclass of one of the
 * permitted kinds; {@link io.disaggmoe.proto.wire.GrpcStatuses} turns each kind into its gRPC
 * status with a switch the compiler checks for exhaustiveness, so a new kind cannot reach a caller
 * as UNKNOWN or INTERNAL by oversight.
 *
 * <p>The kinds are plain Java: a core throws them without depending on gRPC.
 */
public abstract sealed class ServiceException extends RuntimeException
    permits InvalidRequestException,
        FailedPreconditionException,
        ResourceExhaustedException,
        UnavailableException {
  protected ServiceException(String message) {
    super(message);
  }

  protected ServiceException(String message, Throwable cause) {
    super(message, cause);
  }
}
