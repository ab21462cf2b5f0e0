package io.disaggmoe.gateway.client;

import io.disaggmoe.gateway.core.StageException;
import io.disaggmoe.proto.telemetry.StageTracing;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.util.concurrent.TimeUnit;

/** Channels to stages and the one mapping from their gRPC statuses to stage failures. */
final class StageChannels {
  private StageChannels() {}

  static ManagedChannel open(String target) {
    return NettyChannelBuilder.forTarget(target)
        .usePlaintext()
        // Callbacks only hand a message to the reply stream: running them on the transport
        // thread saves a thread hop per token.
        .directExecutor()
        // Prefill responses may carry logits; tokens alone are small.
        .maxInboundMessageSize(64 << 20)
        .keepAliveTime(30, TimeUnit.SECONDS)
        .intercept(StageTracing.clientInterceptor())
        .build();
  }

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
