package io.disaggmoe.gateway.client;

import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.gateway.core.StageException;
import io.grpc.Status;
import java.nio.channels.ClosedChannelException;
import org.junit.jupiter.api.Test;

class StageFailuresTest {
  @Test
  void aConnectionClosedUnderACallIsUnavailableSoTheCallMovesOn() {
    // What grpc-netty gives a write on a connection that is already gone.
    Throwable closed =
        Status.UNKNOWN
            .withDescription("channel closed")
            .withCause(new ClosedChannelException())
            .asRuntimeException();
    StageException e = StageFailures.failure("127.0.0.1:1", closed);
    assertThat(e.kind())
        .as("kind of %s", e.getMessage())
        .isEqualTo(StageException.Kind.UNAVAILABLE);
    assertThat(e.retryable()).isTrue();
  }

  @Test
  void anUnknownFailureOfTheStageItselfIsNotRetried() {
    Throwable thrown =
        Status.UNKNOWN
            .withDescription("boom")
            .withCause(new IllegalStateException("boom"))
            .asRuntimeException();
    StageException e = StageFailures.failure("127.0.0.1:1", thrown);
    assertThat(e.kind()).as("kind of %s", e.getMessage()).isEqualTo(StageException.Kind.FAILED);
    assertThat(e.retryable()).isFalse();
  }
}
