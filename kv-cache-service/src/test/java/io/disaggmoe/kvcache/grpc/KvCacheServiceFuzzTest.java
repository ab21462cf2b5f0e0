package io.disaggmoe.kvcache.grpc;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.google.protobuf.ByteString;
import com.google.protobuf.MessageLite;
import io.disaggmoe.kvcache.core.KvBlockStore;
import io.disaggmoe.proto.testing.HostileCalls;
import io.disaggmoe.proto.testing.HostileMemory;
import io.disaggmoe.proto.testing.InProcessService;
import io.disaggmoe.proto.v1.BlockChunk;
import io.disaggmoe.proto.v1.BlockHeader;
import io.disaggmoe.proto.v1.BlockKey;
import io.disaggmoe.proto.v1.DeleteRequest;
import io.disaggmoe.proto.v1.GetBlocksRequest;
import io.disaggmoe.proto.v1.GetStatsRequest;
import io.disaggmoe.proto.v1.GetTransportRequest;
import io.disaggmoe.proto.v1.KvCacheServiceGrpc;
import io.disaggmoe.proto.v1.MatchPrefixRequest;
import io.disaggmoe.proto.v1.PinRequest;
import io.disaggmoe.proto.v1.PutBlocksRequest;
import io.disaggmoe.proto.v1.PutBlocksResponse;
import io.disaggmoe.proto.v1.UnpinRequest;
import io.grpc.ManagedChannel;
import io.grpc.stub.StreamObserver;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Iterator;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * Hostile messages against kv-cache-service: headers that lie about sizes, chunks out of order,
 * wrong dtypes and checksums, huge TTLs and lease counts, unknown and repeated keys, bytes that do
 * not parse, puts abandoned half way. Every call must end with a status other than UNKNOWN or
 * INTERNAL; afterwards the service is SERVING, a block put and read back is exact, and memory is
 * where it was. The normal run replays the committed corpus; {@code -Pfuzz} runs 10 000 new inputs.
 */
class KvCacheServiceFuzzTest {
  private static final int BLOCK_TOKENS = 4;
  private static KvBlockStore store;
  private static InProcessService service;
  private static ManagedChannel channel;
  private static HostileCalls calls;
  private static HostileMemory memory;

  @BeforeAll
  static void start() throws Exception {
    store = KvBlockStore.inMemory(8 << 20, BLOCK_TOKENS);
    service = InProcessService.start(new KvCacheGrpcService(store));
    channel = service.channel();
    calls =
        new HostileCalls(
            channel, KvCacheServiceGrpc.getServiceDescriptor(), KvCacheServiceFuzzTest::message);
    memory = HostileMemory.now();
  }

  private static MessageLite message(String method, FuzzedDataProvider data) {
    return switch (method) {
      case "MatchPrefix" -> {
        MatchPrefixRequest.Builder b =
            MatchPrefixRequest.newBuilder()
                .setModelId(data.consumeBoolean() ? "m" : data.consumeString(40))
                .setTenant(data.consumeString(40));
        int n = data.consumeInt(0, 200);
        for (int i = 0; i < n; i++) {
          b.addTokenIds(data.consumeBoolean() ? data.consumeInt(0, 1000) : data.consumeInt());
        }
        yield b.build();
      }
      case "PutBlocks" -> data.consumeBoolean() ? validPut(data) : put(data);
      case "GetBlocks" ->
          GetBlocksRequest.newBuilder()
              .addAllKeys(keys(data))
              .setUntilMissing(data.consumeBoolean())
              .build();
      case "Pin" ->
          PinRequest.newBuilder()
              .setRequestId(data.consumeString(40))
              .addAllKeys(keys(data))
              .setTtlMs(data.consumeBoolean() ? data.consumeLong(0, 10_000) : data.consumeLong())
              .build();
      case "Unpin" -> UnpinRequest.newBuilder().setRequestId(data.consumeString(40)).build();
      case "Delete" -> DeleteRequest.newBuilder().addAllKeys(keys(data)).build();
      case "GetTransport" -> GetTransportRequest.getDefaultInstance();
      default -> GetStatsRequest.getDefaultInstance();
    };
  }

  private static BlockKey key(FuzzedDataProvider data) {
    return data.consumeBoolean()
        ? BlockKey.newBuilder()
            .setHash(ByteString.copyFrom(data.consumeBytes(data.consumeInt(0, 40))))
            .build()
        : BlockKey.newBuilder().setTailOfRequest(data.consumeString(40)).build();
  }

  private static Iterable<BlockKey> keys(FuzzedDataProvider data) {
    int n = data.consumeInt(0, 6);
    java.util.List<BlockKey> keys = new java.util.ArrayList<>();
    for (int i = 0; i < n; i++) {
      keys.add(key(data));
    }
    return keys;
  }

  /** Any chunk: headers and offsets that need not agree with the data. */
  private static PutBlocksRequest put(FuzzedDataProvider data) {
    PutBlocksRequest.Builder b = PutBlocksRequest.newBuilder().setKey(key(data));
    if (data.consumeBoolean()) {
      b.setHeader(
          BlockHeader.newBuilder()
              .setModelId(data.consumeBoolean() ? "m" : data.consumeString(20))
              .setDtype(data.pickValue(java.util.List.of("F32", "BF16", "I8", "")))
              .setTokens(HostileCalls.hostileSize(data))
              .setLayers(HostileCalls.hostileSize(data))
              .setWidth(HostileCalls.hostileSize(data))
              .setTotalBytes(
                  data.consumeBoolean() ? data.consumeLong(0, 1 << 16) : data.consumeLong())
              .setChecksum(data.consumeInt()));
    }
    return b.setOffset(data.consumeBoolean() ? 0 : data.consumeLong())
        .setData(ByteString.copyFrom(data.consumeBytes(data.consumeInt(0, 4096))))
        .setLast(data.consumeBoolean())
        .setDurable(data.consumeBoolean())
        .build();
  }

  /** A whole block whose header agrees with its data, values non-finite as the fuzzer likes. */
  private static PutBlocksRequest validPut(FuzzedDataProvider data) {
    int layers = data.consumeInt(1, 3);
    int width = data.consumeInt(1, 16);
    ByteBuffer b =
        ByteBuffer.allocate(BLOCK_TOKENS * layers * width * Float.BYTES)
            .order(ByteOrder.LITTLE_ENDIAN);
    while (b.hasRemaining()) {
      b.putFloat(HostileCalls.hostileFloat(data));
    }
    return block(key(data), layers, width, b.array());
  }

  private static PutBlocksRequest block(BlockKey key, int layers, int width, byte[] bytes) {
    CRC32C crc = new CRC32C();
    crc.update(bytes);
    return PutBlocksRequest.newBuilder()
        .setKey(key)
        .setHeader(
            BlockHeader.newBuilder()
                .setModelId("m")
                .setDtype("F32")
                .setTokens(BLOCK_TOKENS)
                .setLayers(layers)
                .setWidth(width)
                .setTotalBytes(bytes.length)
                .setChecksum((int) crc.getValue()))
        .setData(ByteString.copyFrom(bytes))
        .setLast(true)
        .build();
  }

  @FuzzTest(maxExecutions = 10_000)
  void hostileMessagesGetAStatusOtherThanUnknownOrInternal(FuzzedDataProvider data)
      throws Exception {
    calls.call(data, 10);
  }

  @AfterAll
  static void afterwardsTheCacheServesExactlyAsBefore() throws Exception {
    try {
      System.out.println(calls.report("kv-cache-service"));
      HostileCalls.assertServing(channel);
      byte[] bytes = new byte[BLOCK_TOKENS * 2 * 8 * Float.BYTES];
      for (int i = 0; i < bytes.length; i++) {
        bytes[i] = (byte) (i * 31 + 7);
      }
      BlockKey key = BlockKey.newBuilder().setHash(ByteString.copyFromUtf8("known block")).build();
      CompletableFuture<PutBlocksResponse> put = new CompletableFuture<>();
      StreamObserver<PutBlocksRequest> in =
          KvCacheServiceGrpc.newStub(channel)
              .putBlocks(
                  new StreamObserver<>() {
                    @Override
                    public void onNext(PutBlocksResponse r) {
                      put.complete(r);
                    }

                    @Override
                    public void onError(Throwable t) {
                      put.completeExceptionally(t);
                    }

                    @Override
                    public void onCompleted() {}
                  });
      in.onNext(block(key, 2, 8, bytes));
      in.onCompleted();
      assertThat(put.get(10, TimeUnit.SECONDS).getStored()).isEqualTo(1);
      Iterator<BlockChunk> got =
          KvCacheServiceGrpc.newBlockingStub(channel)
              .getBlocks(GetBlocksRequest.newBuilder().addKeys(key).build());
      ByteArrayOutputStream read = new ByteArrayOutputStream();
      got.forEachRemaining(c -> read.writeBytes(c.getData().toByteArray()));
      assertThat(read.toByteArray()).as("the known block read back").isEqualTo(bytes);
      memory.assertFlat("kv-cache-service");
    } finally {
      service.close();
      store.close();
    }
  }
}
