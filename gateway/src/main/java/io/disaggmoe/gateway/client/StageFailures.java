package io.disaggmoe.gateway.client;

import io.disaggmoe.gateway.core.StageException;
import io.grpc.Status;
import java.nio.channels.ClosedChannelException;

/** The one mapping from stages' gRPC statuses to the gateway's stage failures. */
final class StageFailures {
  private StageFailures() {}

  static StageException failure(String address, Throwable t) {
    Status s = Status.fromThrowable(t);
    String message = s.getCode() + (s.getDescription() == null ? "" : ": " + s.getDescription());
    StageException.Kind kind =
        switch (s.getCode()) {
          case UNAVAILABLE, ABORTED -> StageException.Kind.UNAVAILABLE;
          // grpc-netty reports a write on a connection already gone, without the reason it went,
          // as UNKNOWN "channel closed": a decode instance killed mid-stream can end a call so.
          case UNKNOWN ->
              closedChannel(s.getCause())
                  ? StageException.Kind.UNAVAILABLE
                  : StageException.Kind.FAILED;
          case RESOURCE_EXHAUSTED -> StageException.Kind.OVERLOADED;
          case INVALID_ARGUMENT, OUT_OF_RANGE -> StageException.Kind.INVALID;
          case DEADLINE_EXCEEDED -> StageException.Kind.DEADLINE;
          default -> StageException.Kind.FAILED;
        };
    return new StageException(kind, address, message, t);
  }

  private static boolean closedChannel(Throwable cause) {
    for (Throwable c = cause; c != null; c = c.getCause()) {
      if (c instanceof ClosedChannelException) {
        return true;
      }
    }
    return false;
  }
}
