package io.disaggmoe.proto.wire;

import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.proto.errors.FailedPreconditionException;
import io.disaggmoe.proto.errors.InvalidRequestException;
import io.disaggmoe.proto.errors.ResourceExhaustedException;
import io.disaggmoe.proto.errors.UnavailableException;
import io.grpc.Status;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Test;

class GrpcStatusesTest {
  private static void assertMaps(Throwable t, Status.Code code, String description) {
    Status s = GrpcStatuses.toStatus(t);
    assertThat(s.getCode()).as("code for %s", t).isEqualTo(code);
    assertThat(s.getDescription()).as("description for %s", t).contains(description);
  }

  @Test
  void eachKindHasItsCode() {
    assertMaps(new InvalidRequestException("k > top-k"), Status.Code.INVALID_ARGUMENT, "top-k");
    assertMaps(
        new FailedPreconditionException("no disk"), Status.Code.FAILED_PRECONDITION, "no disk");
    assertMaps(new ResourceExhaustedException("full"), Status.Code.RESOURCE_EXHAUSTED, "full");
    assertMaps(new UnavailableException("closed"), Status.Code.UNAVAILABLE, "closed");
  }

  @Test
  void subclassesOfAKindKeepItsCode() {
    class QueueFull extends ResourceExhaustedException {
      QueueFull() {
        super("queue full");
      }
    }
    assertMaps(new QueueFull(), Status.Code.RESOURCE_EXHAUSTED, "queue full");
  }

  @Test
  void wrappersOfFuturesAreLookedThrough() {
    Throwable wrapped =
        new CompletionException(
            new ExecutionException(new InvalidRequestException("duplicate expert id")));
    assertMaps(wrapped, Status.Code.INVALID_ARGUMENT, "duplicate expert id");
  }

  @Test
  void statusesPassUnchanged() {
    assertMaps(
        Status.ABORTED.withDescription("moved").asRuntimeException(), Status.Code.ABORTED, "moved");
    assertMaps(
        Status.NOT_FOUND.withDescription("gone").asException(), Status.Code.NOT_FOUND, "gone");
  }

  @Test
  void unclassifiedJavaFailures() {
    assertMaps(
        new IllegalArgumentException("bad dtype"), Status.Code.INVALID_ARGUMENT, "bad dtype");
    assertMaps(new TimeoutException("late"), Status.Code.DEADLINE_EXCEEDED, "late");
    assertMaps(new CancellationException("cancelled"), Status.Code.CANCELLED, "cancelled");
    assertMaps(new OutOfMemoryError("Java heap space"), Status.Code.RESOURCE_EXHAUSTED, "heap");
  }

  @Test
  void anythingElseIsInternalWithItsCause() {
    IllegalStateException bug = new IllegalStateException("bug");
    Status s = GrpcStatuses.toStatus(bug);
    assertThat(s.getCode()).isEqualTo(Status.Code.INTERNAL);
    assertThat(s.getCause()).isSameAs(bug);
    assertThat(s.getDescription()).contains("bug");
  }
}
