package io.disaggmoe.attention.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.disaggmoe.kvcache.bulk.KvBulkServer;
import io.disaggmoe.kvcache.core.KvBlockStore;
import io.disaggmoe.kvcache.grpc.KvCacheGrpcService;
import io.disaggmoe.proto.wire.StageChannels;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Blocks through a real kv-cache-service over loopback, in each cache dtype, over gRPC alone (a
 * service without a bulk channel) and over the bulk channel the service names.
 */
class GrpcKvCacheClientTest {
  enum Channel {
    GRPC,
    BULK
  }

  // 64 tokens x 61 layers x 576: DeepSeek-V3's block, 9 MB in F32, several chunks each way.
  private static final int TOKENS = 64;
  private static final int LAYERS = 61;
  private static final int WIDTH = 576;

  private KvBlockStore store;
  private KvBulkServer bulk;
  private Server server;

  @BeforeEach
  void openStore() {
    store = KvBlockStore.inMemory(256L << 20, TOKENS);
  }

  private void start(Channel channel) throws Exception {
    int bulkPort = 0;
    if (channel == Channel.BULK) {
      bulk = KvBulkServer.start(store, "127.0.0.1", 0);
      bulkPort = bulk.port();
    }
    server =
        NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
            .addService(new KvCacheGrpcService(store, bulkPort))
            .maxInboundMessageSize(8 << 20)
            .build()
            .start();
  }

  @AfterEach
  void stop() throws Exception {
    server.shutdownNow().awaitTermination();
    if (bulk != null) {
      bulk.close();
    }
  }

  /** The bytes moved over the bulk channel were all of the blocks' bytes, or none without one. */
  private void assertBulkMoved(long put, long got) {
    if (bulk != null) {
      assertThat(bulk.receivedBytes()).as("bytes put over the bulk channel").isEqualTo(put);
      assertThat(bulk.sentBytes()).as("bytes got over the bulk channel").isEqualTo(got);
    }
  }

  private GrpcKvCacheClient client(KvDtype dtype) {
    return GrpcKvCacheClient.connect(
        StageChannels.plaintext(),
        "127.0.0.1:" + server.getPort(),
        "m",
        LAYERS,
        WIDTH,
        dtype,
        Duration.ofSeconds(30));
  }

  private static LatentBlock block(int seed) {
    float[] v = new float[TOKENS * LAYERS * WIDTH];
    SplittableRandom r = new SplittableRandom(seed);
    for (int i = 0; i < v.length; i++) {
      v[i] = (float) r.nextGaussian();
    }
    return new LatentBlock(TOKENS, v);
  }

  @ParameterizedTest
  @CsvSource({"F32,GRPC", "BF16,GRPC", "F32,BULK", "BF16,BULK"})
  void multiChunkBlocksComeBackAsTheirDtypeKeepsThem(KvDtype dtype, Channel channel)
      throws Exception {
    start(channel);
    List<LatentBlock> blocks = List.of(block(1), block(2), block(3));
    List<byte[]> hashes = new ArrayList<>();
    for (int i = 0; i < blocks.size(); i++) {
      hashes.add(new byte[] {(byte) i, 7});
    }
    try (GrpcKvCacheClient c = client(dtype)) {
      c.putBlocks(hashes, blocks);
      List<LatentBlock> back = c.getLeading(hashes);
      assertThat(back).hasSize(3);
      long bytes = 3L * TOKENS * LAYERS * WIDTH * dtype.bytesPerValue();
      assertBulkMoved(bytes, bytes);
      for (int b = 0; b < 3; b++) {
        float[] want = blocks.get(b).data();
        float[] got = back.get(b).data();
        assertThat(back.get(b).tokens()).isEqualTo(TOKENS);
        for (int i = 0; i < want.length; i++) {
          float expected =
              dtype == KvDtype.F32
                  ? want[i]
                  : Float.intBitsToFloat((KvDtype.toBf16(want[i]) & 0xffff) << 16);
          if (Float.floatToRawIntBits(got[i]) != Float.floatToRawIntBits(expected)) {
            throw new AssertionError(
                dtype
                    + " block "
                    + b
                    + " value "
                    + i
                    + ": expected "
                    + expected
                    + ", got "
                    + got[i]);
          }
        }
      }
    }
  }

  @ParameterizedTest
  @CsvSource({"F32,GRPC", "BF16,GRPC", "F32,BULK", "BF16,BULK"})
  void aReaderOfEitherDtypeReadsBlocksPutAsTheOther(KvDtype writer, Channel channel)
      throws Exception {
    start(channel);
    KvDtype reader = writer == KvDtype.F32 ? KvDtype.BF16 : KvDtype.F32;
    LatentBlock tail = new LatentBlock(3, new float[3 * LAYERS * WIDTH]);
    tail.data()[5] = 1.5f;
    try (GrpcKvCacheClient w = client(writer);
        GrpcKvCacheClient r = client(reader)) {
      w.putTail("t", "req-1", tail);
      LatentBlock back = r.getTail("t", "req-1");
      assertThat(back.tokens()).isEqualTo(3);
      assertThat(back.data()[5]).isEqualTo(1.5f);
      assertThat(r.getTail("t", "req-2")).isNull();
      assertThat(r.getTail("another tenant", "req-1"))
          .as("another tenant's request of the same id")
          .isNull();
    }
  }

  @ParameterizedTest
  @EnumSource(Channel.class)
  void leadingBlocksStopAtTheFirstMissingOne(Channel channel) throws Exception {
    start(channel);
    try (GrpcKvCacheClient c = client(KvDtype.BF16)) {
      c.putBlocks(List.of(new byte[] {1}, new byte[] {3}), List.of(block(1), block(3)));
      List<LatentBlock> back =
          c.getLeading(List.of(new byte[] {1}, new byte[] {2}, new byte[] {3}));
      assertThat(back).as("blocks before the missing second one").hasSize(1);
      long one = (long) TOKENS * LAYERS * WIDTH * 2;
      assertBulkMoved(2 * one, one);
    }
  }

  @Test
  void aFullCacheIsTheSameStatusOverTheBulkChannel() throws Exception {
    store = KvBlockStore.inMemory(1 << 20, TOKENS);
    start(Channel.BULK);
    try (GrpcKvCacheClient c = client(KvDtype.F32)) {
      assertThatThrownBy(() -> c.putBlocks(List.of(new byte[] {1}), List.of(block(1))))
          .isInstanceOfSatisfying(
              StatusRuntimeException.class,
              e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED));
      // The failed put leaves nothing behind that a later one trips over.
      LatentBlock small = new LatentBlock(1, new float[LAYERS * WIDTH]);
      c.putTail("t", "r", small);
      assertThat(c.getTail("t", "r").tokens()).isEqualTo(1);
    }
  }

  @Test
  void aClientFindsTheBulkChannelOfAServiceRestartedOnTheSameAddress() throws Exception {
    start(Channel.BULK);
    int grpcPort = server.getPort();
    try (GrpcKvCacheClient c = client(KvDtype.F32)) {
      c.putBlocks(List.of(new byte[] {1}), List.of(block(1)));
      // The restarted service keeps its gRPC port; its bulk channel listens on another.
      stop();
      bulk = KvBulkServer.start(store, "127.0.0.1", 0);
      server =
          NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", grpcPort))
              .addService(new KvCacheGrpcService(store, bulk.port()))
              .build()
              .start();
      // The first call may find the gRPC channel still reconnecting and go over gRPC once it has;
      // the next asks for the bulk channel again.
      assertThat(c.getLeading(List.of(new byte[] {1}))).hasSize(1);
      assertThat(c.getLeading(List.of(new byte[] {1}))).hasSize(1);
      assertThat(bulk.sentBytes()).as("bytes got over the new bulk channel").isPositive();
    }
  }

  /**
   * A service down for ten seconds has grown gRPC's reconnect backoff to several seconds; once it
   * is back on its address the client uses it again within two, with nothing restarted here.
   */
  @Test
  void aServiceBackAfterALongOutageIsUsedAgainWithinSeconds() throws Exception {
    start(Channel.GRPC);
    int grpcPort = server.getPort();
    try (GrpcKvCacheClient c = client(KvDtype.F32)) {
      c.putBlocks(List.of(new byte[] {1}), List.of(block(1)));
      stop();
      assertThatThrownBy(() -> c.getLeading(List.of(new byte[] {1})))
          .as("a get while the service is down")
          .isInstanceOf(StatusRuntimeException.class);
      Thread.sleep(10_000);
      server =
          NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", grpcPort))
              .addService(new KvCacheGrpcService(store, 0))
              .build()
              .start();
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
      while (!c.reachable() && System.nanoTime() < deadline) {
        Thread.sleep(50);
      }
      assertThat(c.getLeading(List.of(new byte[] {1})))
          .as("blocks got within 2 s of the service's return")
          .hasSize(1);
    }
  }

  @Test
  void blocksGoOverGrpcWhenTheBulkChannelDoesNotAnswer() throws Exception {
    start(Channel.BULK);
    bulk.close();
    try (GrpcKvCacheClient c = client(KvDtype.F32)) {
      c.putBlocks(List.of(new byte[] {1}), List.of(block(1)));
      assertThat(c.getLeading(List.of(new byte[] {1}))).hasSize(1);
      assertThat(bulk.receivedBytes()).isZero();
    }
  }
}
