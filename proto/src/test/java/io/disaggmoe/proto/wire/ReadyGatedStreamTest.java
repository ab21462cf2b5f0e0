package io.disaggmoe.proto.wire;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.disaggmoe.proto.v1.AttentionServiceGrpc;
import io.disaggmoe.proto.v1.DecodeRequest;
import io.disaggmoe.proto.v1.DecodeResponse;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.ServerCalls;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A gated stream over a real (in-process) gRPC stream, here Decode's replies: they leave as the
 * client reads, and a client that stops reading is cut off at the limit instead of being buffered
 * for.
 */
class ReadyGatedStreamTest {
  private static final int TOKENS = 50;
  private static final long LIMIT = 8 << 10;

  // The server sends all its replies at once: a reader keeps up only when they all fit.
  private volatile long limit;

  private final AtomicInteger cancelled = new AtomicInteger();
  private Server server;
  private ManagedChannel channel;

  /** A Decode that sends {@link #TOKENS} replies of 1 KiB of text each through a gated stream. */
  @BeforeEach
  void start() throws Exception {
    String name = InProcessServerBuilder.generateName();
    server =
        InProcessServerBuilder.forName(name)
            .addService(
                ServerServiceDefinition.builder(AttentionServiceGrpc.SERVICE_NAME)
                    .addMethod(
                        AttentionServiceGrpc.getDecodeMethod(),
                        ServerCalls.asyncServerStreamingCall(this::decode))
                    .build())
            .build()
            .start();
    channel = InProcessChannelBuilder.forName(name).build();
  }

  private void decode(DecodeRequest r, StreamObserver<DecodeResponse> out) {
    ReadyGatedStream<DecodeResponse> replies =
        new ReadyGatedStream<>(
            (ServerCallStreamObserver<DecodeResponse>) out,
            limit,
            "the client",
            cancelled::incrementAndGet);
    for (int i = 0; i < TOKENS; i++) {
      replies.send(
          DecodeResponse.newBuilder()
              .setRequestId(String.valueOf(i))
              .setText("x".repeat(1024))
              .build());
    }
    replies.complete();
  }

  @AfterEach
  void stop() throws Exception {
    channel.shutdownNow();
    server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }

  /** Collects replies; asks for one more after each it gets, or for none at all. */
  private static final class Reader
      implements ClientResponseObserver<DecodeRequest, DecodeResponse> {
    final List<String> ids = new ArrayList<>();
    final CompletableFuture<Void> done = new CompletableFuture<>();
    private final boolean reads;
    private ClientCallStreamObserver<DecodeRequest> call;

    Reader(boolean reads) {
      this.reads = reads;
    }

    @Override
    public void beforeStart(ClientCallStreamObserver<DecodeRequest> call) {
      this.call = call;
      call.disableAutoRequestWithInitial(reads ? 1 : 0);
    }

    @Override
    public void onNext(DecodeResponse r) {
      ids.add(r.getRequestId());
      call.request(1);
    }

    @Override
    public void onError(Throwable t) {
      done.completeExceptionally(t);
    }

    @Override
    public void onCompleted() {
      done.complete(null);
    }
  }

  @Test
  void aClientReadingOneAtATimeGetsEveryReplyInOrder() throws Exception {
    limit = 1 << 20;
    Reader reader = new Reader(true);
    AttentionServiceGrpc.newStub(channel).decode(DecodeRequest.getDefaultInstance(), reader);
    reader.done.get(10, TimeUnit.SECONDS);
    assertThat(reader.ids).hasSize(TOKENS);
    for (int i = 0; i < TOKENS; i++) {
      assertThat(reader.ids.get(i)).as("reply %d", i).isEqualTo(String.valueOf(i));
    }
    assertThat(cancelled).hasValue(0);
  }

  @Test
  void aClientThatStopsReadingIsCutOffAtTheLimitAndItsRequestCancelled() {
    limit = LIMIT;
    Reader reader = new Reader(false);
    AttentionServiceGrpc.newStub(channel).decode(DecodeRequest.getDefaultInstance(), reader);
    assertThatThrownBy(() -> reader.done.get(10, TimeUnit.SECONDS))
        .satisfies(
            e -> {
              Status s = Status.fromThrowable(e.getCause());
              assertThat(s.getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
              assertThat(s.getDescription())
                  .contains("the client reads slower")
                  .contains("more than " + LIMIT + " bytes waiting");
            });
    assertThat(cancelled).hasValue(1);
  }
}
