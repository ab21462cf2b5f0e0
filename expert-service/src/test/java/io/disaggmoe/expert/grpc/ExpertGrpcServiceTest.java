package io.disaggmoe.expert.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import io.disaggmoe.expert.core.ExpertPool;
import io.disaggmoe.expert.core.PoolPause;
import io.disaggmoe.model.testing.GoldenCase;
import io.disaggmoe.proto.Tensors;
import io.disaggmoe.proto.v1.DispatchRequest;
import io.disaggmoe.proto.v1.DispatchResponse;
import io.disaggmoe.proto.v1.ExpertServiceGrpc;
import io.disaggmoe.proto.v1.GetExpertLoadRequest;
import io.disaggmoe.proto.v1.GetPlacementRequest;
import io.disaggmoe.proto.v1.Placement;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.StreamObserver;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The pool's gRPC face on an in-process transport: results, placement, load and every refusal. */
class ExpertGrpcServiceTest {
  private static ExpertPool pool;
  private static Server server;
  private static ManagedChannel channel;
  private static ExpertServiceGrpc.ExpertServiceBlockingStub stub;
  private static int dim;

  @BeforeAll
  static void start() throws Exception {
    // v3-tiny: 16 experts, MoE layers 1..; pool 0/2 holds experts 0..7.
    pool = ExpertPool.load(GoldenCase.named("v3-tiny").dir(), "0/2", List.of(12));
    dim = pool.config().hiddenSize();
    String name = InProcessServerBuilder.generateName();
    server =
        InProcessServerBuilder.forName(name)
            .directExecutor()
            .addService(new ExpertGrpcService(pool))
            .build()
            .start();
    channel = InProcessChannelBuilder.forName(name).directExecutor().build();
    stub = ExpertServiceGrpc.newBlockingStub(channel);
  }

  @AfterAll
  static void stop() throws Exception {
    channel.shutdownNow();
    server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    pool.close();
  }

  private static DispatchRequest.Builder request(int layer, int tokens, int[] ids, float[] w) {
    return request(layer, tokens, ids, w, 0.1f);
  }

  private static DispatchRequest.Builder request(
      int layer, int tokens, int[] ids, float[] w, float scale) {
    float[] hidden = new float[tokens * dim];
    for (int i = 0; i < hidden.length; i++) {
      hidden[i] = (float) Math.sin(i) * scale;
    }
    int k = ids.length / tokens;
    return DispatchRequest.newBuilder()
        .setLayer(layer)
        .setHidden(Tensors.f32(hidden, tokens, dim))
        .setExpertIds(Tensors.i32(ids, tokens, k))
        .setRoutingWeights(Tensors.f32(w, tokens, k));
  }

  private static void assertRefused(DispatchRequest r, Status.Code code, String text) {
    assertThatThrownBy(() -> stub.dispatch(r))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> {
              assertThat(e.getStatus().getCode()).isEqualTo(code);
              assertThat(e.getStatus().getDescription()).contains(text);
            });
  }

  @Test
  void aDispatchReturnsTheWeightedOutputOfEachHeldSlot() {
    DispatchResponse r =
        stub.dispatch(
            request(1, 2, new int[] {0, -1, 12, 3}, new float[] {0.5f, 0.9f, 1f, 0.25f})
                .setDispatchId(7)
                .build());
    assertThat(r.getDispatchId()).isEqualTo(7);
    // Slots 0, 2 and 3 (experts 0, 12 and 3) are this pool's; slot 1 is another's.
    assertThat(r.getPartial().getShapeList()).containsExactly(3L, (long) dim);
    float[] rows = Tensors.toF32(r.getPartial(), "partial", 2);
    assertThat(rows).isNotEqualTo(new float[rows.length]);
  }

  @Test
  void placementAndLoadDescribeThePool() {
    Placement p = stub.getPlacement(GetPlacementRequest.getDefaultInstance());
    assertThat(p.getExpertsList()).containsExactly(0, 1, 2, 3, 4, 5, 6, 7, 12);
    assertThat(p.getPoolIndex()).isZero();
    assertThat(p.getPoolCount()).isEqualTo(2);
    assertThat(p.getResidentBytes()).isEqualTo(pool.residentBytes()).isPositive();
    stub.dispatch(request(2, 1, new int[] {5, 6}, new float[] {0.5f, 0.5f}).build());
    stub.dispatch(request(1, 2, new int[] {5, 6, 5, 7}, new float[] {0.5f, 0.5f, 1, 1}).build());
    long served =
        stub.getExpertLoad(GetExpertLoadRequest.getDefaultInstance()).getLayersList().stream()
            .filter(l -> l.getLayer() == 1)
            .findFirst()
            .orElseThrow()
            .getTokensPerExpert(5);
    assertThat(served).isGreaterThanOrEqualTo(2);
  }

  @Test
  void dataLengthThatDisagreesWithTheShapeIsInvalid() {
    DispatchRequest.Builder r = request(1, 1, new int[] {0}, new float[] {1f});
    r.setHidden(r.getHidden().toBuilder().setData(ByteString.copyFrom(new byte[12])));
    assertRefused(r.build(), Status.Code.INVALID_ARGUMENT, "hidden: 12 data bytes");
  }

  @Test
  void aWrongDtypeIsInvalid() {
    DispatchRequest.Builder r = request(1, 1, new int[] {0}, new float[] {1f});
    r.setExpertIds(r.getExpertIds().toBuilder().setDtype("I64"));
    assertRefused(r.build(), Status.Code.INVALID_ARGUMENT, "expert_ids: dtype is 'I64'");
  }

  @Test
  void anUnknownLayerIsInvalid() {
    assertRefused(
        request(0, 1, new int[] {0}, new float[] {1f}).build(),
        Status.Code.INVALID_ARGUMENT,
        "layer 0 is not a MoE layer");
    assertRefused(
        request(99, 1, new int[] {0}, new float[] {1f}).build(),
        Status.Code.INVALID_ARGUMENT,
        "layer 99 is not a MoE layer");
  }

  @Test
  void anUnknownExpertIsInvalid() {
    assertRefused(
        request(1, 1, new int[] {16}, new float[] {1f}).build(),
        Status.Code.INVALID_ARGUMENT,
        "expert 16 does not exist");
  }

  @Test
  void moreSlotsPerTokenThanTopKOrARepeatedExpertIsInvalid() {
    int topK = pool.config().numExpertsPerTok();
    int[] many = new int[topK + 1];
    java.util.Arrays.setAll(many, i -> i % 8);
    assertRefused(
        request(1, 1, many, new float[topK + 1]).build(),
        Status.Code.INVALID_ARGUMENT,
        "at most " + topK + " experts");
    assertRefused(
        request(1, 1, new int[] {3, 3}, new float[] {0.5f, 0.5f}).build(),
        Status.Code.INVALID_ARGUMENT,
        "names expert 3 twice");
  }

  @Test
  void nanOrInfInInputsIsInvalid() {
    DispatchRequest.Builder r = request(1, 1, new int[] {0}, new float[] {Float.NaN});
    assertRefused(r.build(), Status.Code.INVALID_ARGUMENT, "routing_weights holds NaN");
    float[] hidden = new float[dim];
    hidden[3] = Float.POSITIVE_INFINITY;
    r = request(1, 1, new int[] {0}, new float[] {1f}).setHidden(Tensors.f32(hidden, 1, dim));
    assertRefused(r.build(), Status.Code.INVALID_ARGUMENT, "hidden holds Infinity at index 3");
  }

  @Test
  void anExpertThisPoolDoesNotHoldIsAFailedPrecondition() {
    assertRefused(
        request(1, 1, new int[] {9}, new float[] {1f}).build(),
        Status.Code.FAILED_PRECONDITION,
        "expert 9 of layer 1 is not held by pool 0/2");
  }

  /** Opens a dispatch stream; the future completes with every response once the pool ends it. */
  private static StreamObserver<DispatchRequest> openStream(
      CompletableFuture<List<DispatchResponse>> done) {
    List<DispatchResponse> got = new java.util.ArrayList<>();
    return ExpertServiceGrpc.newStub(channel)
        .dispatchStream(
            new StreamObserver<>() {
              @Override
              public synchronized void onNext(DispatchResponse r) {
                got.add(r);
              }

              @Override
              public void onError(Throwable t) {
                done.completeExceptionally(t);
              }

              @Override
              public synchronized void onCompleted() {
                done.complete(got);
              }
            });
  }

  @Test
  void dispatchesQueuedOnOneStreamShareTheirPassesAndAllAreAnswered() throws Exception {
    CompletableFuture<List<DispatchResponse>> done = new CompletableFuture<>();
    StreamObserver<DispatchRequest> in = openStream(done);
    // Two micro-batches of one layer: experts {0, 1, 3} and {1, 3, 5}, four distinct.
    long before = stub.getExpertLoad(GetExpertLoadRequest.getDefaultInstance()).getExpertPasses();
    try (PoolPause paused = new PoolPause(pool)) {
      in.onNext(
          request(1, 2, new int[] {0, 1, 3, 1}, new float[] {1, 1, 1, 1}).setDispatchId(1).build());
      in.onNext(
          request(1, 2, new int[] {5, 3, 1, 5}, new float[] {1, 1, 1, 1}).setDispatchId(2).build());
      in.onCompleted();
    }
    List<DispatchResponse> responses = done.get(10, TimeUnit.SECONDS);
    assertThat(responses)
        .extracting(DispatchResponse::getDispatchId)
        .containsExactlyInAnyOrder(1L, 2L);
    assertThat(responses).allMatch(DispatchResponse::hasPartial);
    long passes =
        stub.getExpertLoad(GetExpertLoadRequest.getDefaultInstance()).getExpertPasses() - before;
    assertThat(passes).as("expert passes for the two queued dispatches").isEqualTo(4);
  }

  @Test
  void concurrentUnaryDispatchesOverTcpEachGetTheirOwnResult() throws Exception {
    // Over a real transport with grpc-java's default executor, where a unary request is parsed in
    // one callback and handled in a later one: each must still read its own bytes.
    Server tcp =
        NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
            .addService(new ExpertGrpcService(pool))
            .build()
            .start();
    ManagedChannel ch =
        NettyChannelBuilder.forAddress("127.0.0.1", tcp.getPort()).usePlaintext().build();
    ExecutorService callers = Executors.newFixedThreadPool(8);
    try {
      var tcpStub = ExpertServiceGrpc.newBlockingStub(ch);
      List<DispatchRequest> inputs = new ArrayList<>();
      List<DispatchResponse> expected = new ArrayList<>();
      for (int i = 0; i < 8; i++) {
        float[] hidden = new float[16 * dim];
        for (int j = 0; j < hidden.length; j++) {
          hidden[j] = (float) Math.sin(j + 31 * i) * 0.1f;
        }
        int[] ids = new int[32];
        float[] w = new float[32];
        for (int j = 0; j < ids.length; j++) {
          ids[j] = (i + j) % 8;
          w[j] = 0.5f;
        }
        DispatchRequest r = request(1, 16, ids, w).setHidden(Tensors.f32(hidden, 16, dim)).build();
        inputs.add(r);
        expected.add(tcpStub.dispatch(r));
      }
      List<Future<?>> done = new ArrayList<>();
      for (int t = 0; t < 8; t++) {
        int thread = t;
        done.add(
            callers.submit(
                () -> {
                  for (int j = 0; j < 40; j++) {
                    int i = (thread + j) % inputs.size();
                    assertThat(tcpStub.dispatch(inputs.get(i)).getPartial())
                        .as("input %d on caller %d, call %d", i, thread, j)
                        .isEqualTo(expected.get(i).getPartial());
                  }
                  return null;
                }));
      }
      for (Future<?> f : done) {
        f.get(120, TimeUnit.SECONDS);
      }
    } finally {
      callers.shutdownNow();
      ch.shutdownNow();
      tcp.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  @Test
  void theQueuedDispatchesOfACancelledStreamAreDroppedUncomputed() throws Exception {
    long before = stub.getExpertLoad(GetExpertLoadRequest.getDefaultInstance()).getExpertPasses();
    BlockingQueue<DispatchResponse> replies = new LinkedBlockingQueue<>();
    try (PoolPause paused = new PoolPause(pool)) {
      ClientCallStreamObserver<DispatchRequest> in =
          (ClientCallStreamObserver<DispatchRequest>)
              ExpertServiceGrpc.newStub(channel).dispatchStream(collectInto(replies));
      for (int i = 0; i < 5; i++) {
        in.onNext(
            request(1, 2, new int[] {0, 1, 2, 3}, new float[] {1, 1, 1, 1})
                .setDispatchId(i)
                .build());
      }
      assertThat(pool.queuedBytes()).as("bytes queued behind the paused pool").isPositive();
      in.cancel("the attention instance went away", null);
    }
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (pool.queuedBytes() > 0 && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    assertThat(pool.queuedBytes()).as("bytes still queued after the cancel").isZero();
    long passes =
        stub.getExpertLoad(GetExpertLoadRequest.getDefaultInstance()).getExpertPasses() - before;
    assertThat(passes).as("expert passes made for the cancelled stream").isZero();
  }

  /**
   * A caller that stops reading its partial sums is cut off once 4 KiB of them wait, and the work
   * it had queued is dropped: the pool does not buffer or compute for a reader that is gone.
   */
  @Test
  void repliesWaitingForASlowReaderKeepTheirOwnOutputs() throws Exception {
    // Replies are built in a scratch array per thread; one that must wait for the reader has to
    // stop sharing it, or the next reply built on that thread overwrites it before it is sent.
    DispatchRequest first =
        request(1, 2, new int[] {0, 1, 3, 2}, new float[] {1, 1, 1, 1}, 0.1f)
            .setDispatchId(1)
            .build();
    DispatchRequest second =
        request(1, 2, new int[] {0, 1, 3, 2}, new float[] {1, 1, 1, 1}, 0.3f)
            .setDispatchId(2)
            .build();
    // Copied as they arrive: the in-process transport hands the server's message over as it is.
    byte[] firstAlone = stub.dispatch(first).getPartial().getData().toByteArray();
    byte[] secondAlone = stub.dispatch(second).getPartial().getData().toByteArray();
    CompletableFuture<List<byte[]>> done = new CompletableFuture<>();
    List<byte[]> got = new ArrayList<>();
    ClientCallStreamObserver<?>[] call = new ClientCallStreamObserver<?>[1];
    ClientResponseObserver<DispatchRequest, DispatchResponse> reader =
        new ClientResponseObserver<>() {
          @Override
          public void beforeStart(ClientCallStreamObserver<DispatchRequest> c) {
            call[0] = c;
            // Reads nothing until both replies are built: the server's stream is not ready.
            c.disableAutoRequestWithInitial(0);
          }

          @Override
          public synchronized void onNext(DispatchResponse r) {
            assertThat(r.getDispatchId()).isEqualTo(got.size() + 1L);
            got.add(r.getPartial().getData().toByteArray());
          }

          @Override
          public void onError(Throwable t) {
            done.completeExceptionally(t);
          }

          @Override
          public synchronized void onCompleted() {
            done.complete(List.copyOf(got));
          }
        };
    StreamObserver<DispatchRequest> in = ExpertServiceGrpc.newStub(channel).dispatchStream(reader);
    // Both queued first, so that both replies are built on the pool's compute thread.
    try (PoolPause paused = new PoolPause(pool)) {
      in.onNext(first);
      in.onNext(second);
      in.onCompleted();
    }
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (pool.queuedBytes() > 0 && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    call[0].request(2);
    List<byte[]> replies = done.get(10, TimeUnit.SECONDS);
    assertThat(replies).hasSize(2);
    assertThat(Arrays.mismatch(replies.get(0), firstAlone))
        .as("first byte that differs (-1: none) of the reply built before the other one")
        .isEqualTo(-1);
    assertThat(Arrays.mismatch(replies.get(1), secondAlone))
        .as("first byte that differs (-1: none) of the reply built after the other one")
        .isEqualTo(-1);
  }

  @Test
  void aStreamWhoseReaderStopsReadingIsCutOffAtTheReplyLimit() throws Exception {
    String name = InProcessServerBuilder.generateName();
    Server limited =
        InProcessServerBuilder.forName(name)
            .directExecutor()
            .addService(new ExpertGrpcService(pool, 4 << 10))
            .build()
            .start();
    ManagedChannel ch = InProcessChannelBuilder.forName(name).directExecutor().build();
    try {
      CompletableFuture<Status> closed = new CompletableFuture<>();
      ClientResponseObserver<DispatchRequest, DispatchResponse> reader =
          new ClientResponseObserver<>() {
            @Override
            public void beforeStart(ClientCallStreamObserver<DispatchRequest> call) {
              call.disableAutoRequestWithInitial(0);
            }

            @Override
            public void onNext(DispatchResponse r) {}

            @Override
            public void onError(Throwable t) {
              closed.complete(Status.fromThrowable(t));
            }

            @Override
            public void onCompleted() {
              closed.complete(Status.OK);
            }
          };
      StreamObserver<DispatchRequest> in = ExpertServiceGrpc.newStub(ch).dispatchStream(reader);
      for (int i = 0; i < 64 && !closed.isDone(); i++) {
        in.onNext(
            request(1, 2, new int[] {0, 1, 2, 3}, new float[] {1, 1, 1, 1})
                .setDispatchId(i)
                .build());
      }
      Status s = closed.get(10, TimeUnit.SECONDS);
      assertThat(s.getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
      assertThat(s.getDescription()).contains("more than " + (4 << 10) + " bytes waiting");
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (pool.queuedBytes() > 0 && System.nanoTime() < deadline) {
        Thread.sleep(10);
      }
      assertThat(pool.queuedBytes()).as("bytes still queued for the cut-off stream").isZero();
    } finally {
      ch.shutdownNow();
      limited.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  @Test
  void onTheStreamABadDispatchGetsAnErrorAndTheStreamGoesOn() throws Exception {
    CompletableFuture<List<DispatchResponse>> done = new CompletableFuture<>();
    StreamObserver<DispatchRequest> in = openStream(done);
    in.onNext(request(1, 1, new int[] {9}, new float[] {1f}).setDispatchId(1).build());
    in.onNext(request(1, 1, new int[] {2}, new float[] {1f}).setDispatchId(2).build());
    in.onCompleted();
    List<DispatchResponse> responses = done.get(10, TimeUnit.SECONDS);
    assertThat(responses).hasSize(2);
    assertThat(responses.get(0).getError().getCode())
        .isEqualTo(Status.Code.FAILED_PRECONDITION.value());
    assertThat(responses.get(1).hasPartial()).isTrue();
  }

  @Test
  void aFullPoolAnswersResourceExhaustedAndTheStreamGoesOn() throws Exception {
    // Room for one dispatch of 2 tokens with 2 held slots, not for a second one beside it.
    long one = 4L * dim * Float.BYTES;
    String name = InProcessServerBuilder.generateName();
    try (ExpertPool small =
        ExpertPool.load(GoldenCase.named("v3-tiny").dir(), "0/2", List.of(), 0, one + one / 2)) {
      Server smallServer =
          InProcessServerBuilder.forName(name)
              .directExecutor()
              .addService(new ExpertGrpcService(small))
              .build()
              .start();
      ManagedChannel smallChannel = InProcessChannelBuilder.forName(name).directExecutor().build();
      try {
        BlockingQueue<DispatchResponse> replies = new LinkedBlockingQueue<>();
        StreamObserver<DispatchRequest> in =
            ExpertServiceGrpc.newStub(smallChannel).dispatchStream(collectInto(replies));
        DispatchRequest.Builder r =
            request(1, 2, new int[] {0, -1, 3, -1}, new float[] {1, 0, 1, 0});
        try (PoolPause paused = new PoolPause(small)) {
          in.onNext(r.setDispatchId(1).build());
          in.onNext(r.setDispatchId(2).build());
          DispatchResponse refused = replies.poll(10, TimeUnit.SECONDS);
          assertThat(refused.getDispatchId()).isEqualTo(2);
          assertThat(refused.getError().getCode())
              .isEqualTo(Status.Code.RESOURCE_EXHAUSTED.value());
          assertThat(refused.getError().getMessage())
              .contains("expert pool 0/2 has " + one + " bytes of dispatches queued");
        }
        assertThat(replies.poll(10, TimeUnit.SECONDS).getDispatchId()).isEqualTo(1);
        in.onNext(r.setDispatchId(3).build());
        DispatchResponse third = replies.poll(10, TimeUnit.SECONDS);
        assertThat(third.getDispatchId()).isEqualTo(3);
        assertThat(third.hasPartial()).as("dispatch 3, once the queue drained").isTrue();
        in.onCompleted();
      } finally {
        smallChannel.shutdownNow();
        smallServer.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }

  private static StreamObserver<DispatchResponse> collectInto(BlockingQueue<DispatchResponse> q) {
    return new StreamObserver<>() {
      @Override
      public void onNext(DispatchResponse r) {
        q.add(r);
      }

      @Override
      public void onError(Throwable t) {}

      @Override
      public void onCompleted() {}
    };
  }
}
