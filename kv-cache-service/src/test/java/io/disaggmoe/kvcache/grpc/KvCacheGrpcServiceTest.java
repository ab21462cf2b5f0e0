package io.disaggmoe.kvcache.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import io.disaggmoe.kvcache.core.KvBlockStore;
import io.disaggmoe.proto.v1.BlockChunk;
import io.disaggmoe.proto.v1.BlockHeader;
import io.disaggmoe.proto.v1.BlockKey;
import io.disaggmoe.proto.v1.GetBlocksRequest;
import io.disaggmoe.proto.v1.GetStatsRequest;
import io.disaggmoe.proto.v1.KvCacheServiceGrpc;
import io.disaggmoe.proto.v1.MatchPrefixRequest;
import io.disaggmoe.proto.v1.MatchPrefixResponse;
import io.disaggmoe.proto.v1.PinRequest;
import io.disaggmoe.proto.v1.PutBlocksRequest;
import io.disaggmoe.proto.v1.PutBlocksResponse;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.ByteArrayOutputStream;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The service over real loopback gRPC: chunked transfers, misses, and every refusal's status. */
class KvCacheGrpcServiceTest {
  private Server server;
  private ManagedChannel channel;
  private KvCacheServiceGrpc.KvCacheServiceBlockingStub blocking;
  private KvCacheServiceGrpc.KvCacheServiceStub async;

  @BeforeEach
  void start() throws Exception {
    // 4 tokens per block; a budget of two 3 MB blocks.
    server =
        NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
            .addService(new KvCacheGrpcService(KvBlockStore.inMemory(7_000_000, 4)))
            .build()
            .start();
    channel = NettyChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext().build();
    blocking = KvCacheServiceGrpc.newBlockingStub(channel);
    async = KvCacheServiceGrpc.newStub(channel);
  }

  @AfterEach
  void stop() throws Exception {
    channel.shutdownNow();
    server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }

  /** 4 tokens x 3 layers x 62 500 F32 = 3 000 000 bytes: three GetBlocks chunks. */
  private static byte[] data(int seed) {
    byte[] d = new byte[3_000_000];
    new SplittableRandom(seed).nextBytes(d);
    return d;
  }

  private static BlockHeader header(byte[] data) {
    CRC32C crc = new CRC32C();
    crc.update(data);
    return BlockHeader.newBuilder()
        .setModelId("m")
        .setDtype("F32")
        .setTokens(4)
        .setLayers(3)
        .setWidth(62_500)
        .setTotalBytes(data.length)
        .setChecksum((int) crc.getValue())
        .build();
  }

  private static BlockKey hashKey(ByteString h) {
    return BlockKey.newBuilder().setHash(h).build();
  }

  /** Sends the chunks and returns the response or the failure. */
  private CompletableFuture<PutBlocksResponse> put(List<PutBlocksRequest> chunks) {
    CompletableFuture<PutBlocksResponse> done = new CompletableFuture<>();
    StreamObserver<PutBlocksRequest> in =
        async.putBlocks(
            new StreamObserver<>() {
              @Override
              public void onNext(PutBlocksResponse r) {
                done.complete(r);
              }

              @Override
              public void onError(Throwable t) {
                done.completeExceptionally(t);
              }

              @Override
              public void onCompleted() {}
            });
    chunks.forEach(in::onNext);
    in.onCompleted();
    return done;
  }

  private static List<PutBlocksRequest> chunks(BlockKey key, byte[] data, int chunk) {
    List<PutBlocksRequest> out = new ArrayList<>();
    for (int off = 0; off < data.length; off += chunk) {
      int n = Math.min(chunk, data.length - off);
      PutBlocksRequest.Builder b =
          PutBlocksRequest.newBuilder()
              .setKey(key)
              .setOffset(off)
              .setData(ByteString.copyFrom(data, off, n))
              .setLast(off + n == data.length);
      if (off == 0) {
        b.setHeader(header(data));
      }
      out.add(b.build());
    }
    return out;
  }

  private static Status statusOf(CompletableFuture<?> f) {
    try {
      f.get(10, TimeUnit.SECONDS);
      throw new AssertionError("expected a failure");
    } catch (Exception e) {
      return Status.fromThrowable(e.getCause() == null ? e : e.getCause());
    }
  }

  @Test
  void aChunkedBlockComesBackWholeAndMissesAreMarked() throws Exception {
    MatchPrefixResponse m =
        blocking.matchPrefix(
            MatchPrefixRequest.newBuilder()
                .setModelId("m")
                .setTenant("t")
                .addAllTokenIds(List.of(1, 2, 3, 4, 5, 6, 7, 8, 9))
                .build());
    assertThat(m.getBlockTokens()).isEqualTo(4);
    assertThat(m.getBlockHashesCount()).isEqualTo(2);
    assertThat(m.getMatchedTokens()).isZero();

    byte[] data = data(1);
    BlockKey first = hashKey(m.getBlockHashes(0));
    assertThat(put(chunks(first, data, 700_000)).get(10, TimeUnit.SECONDS).getStored())
        .isEqualTo(1);
    assertThat(
            blocking
                .matchPrefix(
                    MatchPrefixRequest.newBuilder()
                        .setModelId("m")
                        .setTenant("t")
                        .addAllTokenIds(List.of(1, 2, 3, 4, 5, 6, 7, 8, 9))
                        .build())
                .getMatchedTokens())
        .isEqualTo(4);

    BlockKey absent = hashKey(m.getBlockHashes(1));
    Iterator<BlockChunk> it =
        blocking.getBlocks(GetBlocksRequest.newBuilder().addKeys(first).addKeys(absent).build());
    ByteArrayOutputStream got = new ByteArrayOutputStream();
    int chunks = 0;
    BlockChunk c;
    do {
      c = it.next();
      assertThat(c.getOffset()).isEqualTo(got.size());
      c.getData().writeTo(got);
      chunks++;
    } while (!c.getLast());
    assertThat(chunks).isEqualTo(3);
    assertThat(got.toByteArray()).isEqualTo(data);
    BlockChunk missing = it.next();
    assertThat(missing.getMissing()).isTrue();
    assertThat(missing.getKey()).isEqualTo(absent);
    assertThat(it.hasNext()).isFalse();
  }

  @Test
  void malformedPutsGetInvalidArgumentWithTheReason() {
    byte[] data = data(2);
    BlockKey key = hashKey(ByteString.copyFromUtf8("k"));
    List<PutBlocksRequest> good = chunks(key, data, 1_000_000);

    List<PutBlocksRequest> badChecksum = new ArrayList<>(good);
    badChecksum.set(
        0, good.get(0).toBuilder().setHeader(header(data).toBuilder().setChecksum(1234)).build());
    Status s = statusOf(put(badChecksum));
    assertThat(s.getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(s.getDescription()).contains("CRC32C");

    List<PutBlocksRequest> gap = new ArrayList<>(good);
    gap.remove(1);
    s = statusOf(put(gap));
    assertThat(s.getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(s.getDescription()).contains("expected offset 1000000");

    List<PutBlocksRequest> wrongSize =
        List.of(
            good.get(0).toBuilder().setHeader(header(data).toBuilder().setTotalBytes(12)).build());
    s = statusOf(put(wrongSize));
    assertThat(s.getDescription()).contains("total_bytes 12");

    s = statusOf(put(good.subList(0, 2)));
    assertThat(s.getDescription()).contains("ended inside the block");

    s = statusOf(put(List.of(PutBlocksRequest.newBuilder().setLast(true).build())));
    assertThat(s.getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(s.getDescription()).contains("neither a hash nor a request tail");
  }

  @Test
  void aPutThatPinnedBlocksLeaveNoRoomForIsResourceExhausted() throws Exception {
    for (int i = 0; i < 2; i++) {
      BlockKey k = hashKey(ByteString.copyFromUtf8("b" + i));
      put(chunks(k, data(i), 1 << 20)).get(10, TimeUnit.SECONDS);
      blocking.pin(PinRequest.newBuilder().setRequestId("r").addKeys(k).setTtlMs(60_000).build());
    }
    Status s = statusOf(put(chunks(hashKey(ByteString.copyFromUtf8("b2")), data(2), 1 << 20)));
    assertThat(s.getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
    assertThat(s.getDescription()).contains("pinned");
    assertThat(blocking.getStats(GetStatsRequest.getDefaultInstance()).getPinnedBytes())
        .isEqualTo(6_000_000);
    assertThatThrownBy(
            () -> blocking.pin(PinRequest.newBuilder().setRequestId("r").setTtlMs(0).build()))
        .isInstanceOf(StatusRuntimeException.class)
        .hasMessageContaining("INVALID_ARGUMENT")
        .hasMessageContaining("ttl_ms");
  }
}
