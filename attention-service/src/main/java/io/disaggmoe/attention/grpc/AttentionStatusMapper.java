package io.disaggmoe.attention.grpc;

import io.disaggmoe.attention.core.EngineStoppedException;
import io.disaggmoe.attention.core.ExpertPoolUnavailableException;
import io.disaggmoe.attention.core.KvBudgetExceededException;
import io.disaggmoe.attention.core.PrefillQueueFullException;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.concurrent.CompletionException;

/** The one place where the attention instance's failures become gRPC statuses. */
final class AttentionStatusMapper {
  private AttentionStatusMapper() {}

  static Status toStatus(Throwable t) {
    return switch (t) {
      case ExpertPoolUnavailableException e -> Status.UNAVAILABLE.withDescription(e.getMessage());
      case KvBudgetExceededException e -> Status.RESOURCE_EXHAUSTED.withDescription(e.getMessage());
      case PrefillQueueFullException e -> Status.RESOURCE_EXHAUSTED.withDescription(e.getMessage());
      case EngineStoppedException e -> Status.UNAVAILABLE.withDescription(e.getMessage());
      case OutOfMemoryError e ->
          Status.RESOURCE_EXHAUSTED.withDescription("out of memory: " + e.getMessage());
      case StatusRuntimeException e -> e.getStatus();
      case CompletionException e when e.getCause() != null -> toStatus(e.getCause());
      case IllegalArgumentException e -> Status.INVALID_ARGUMENT.withDescription(e.getMessage());
      default -> Status.INTERNAL.withDescription(String.valueOf(t.getMessage())).withCause(t);
    };
  }
}
