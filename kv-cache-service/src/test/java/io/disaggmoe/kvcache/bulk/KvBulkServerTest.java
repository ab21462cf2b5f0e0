package io.disaggmoe.kvcache.bulk;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import io.disaggmoe.kvcache.core.KvBlockStore;
import io.disaggmoe.proto.v1.BlockHeader;
import io.disaggmoe.proto.v1.BlockKey;
import io.disaggmoe.proto.v1.BulkCommit;
import io.disaggmoe.proto.v1.BulkReply;
import io.disaggmoe.proto.v1.BulkRequest;
import io.disaggmoe.proto.v1.GetBlocksRequest;
import io.disaggmoe.proto.v1.PinRequest;
import io.disaggmoe.proto.v1.PutBlocksRequest;
import io.disaggmoe.proto.wire.BulkFrames;
import io.grpc.Status;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The bulk channel's protocol as a client that speaks it byte by byte sees it, hostile or not. */
class KvBulkServerTest {
  private KvBlockStore store;
  private KvBulkServer server;

  @BeforeEach
  void start() throws IOException {
    store = KvBlockStore.inMemory(64 << 20, 4);
    server = KvBulkServer.start(store, "127.0.0.1", 0);
  }

  @AfterEach
  void stop() throws IOException {
    server.close();
    store.close();
  }

  private SocketChannel connect() throws IOException {
    return SocketChannel.open(new InetSocketAddress("127.0.0.1", server.port()));
  }

  private static BlockKey key(int i) {
    return BlockKey.newBuilder().setHash(ByteString.copyFrom(new byte[] {(byte) i})).build();
  }

  /** A block of 4 tokens x 2 layers x 8 F32 with every byte {@code fill}, and its put header. */
  private static ByteBuffer data(int fill) {
    byte[] d = new byte[4 * 2 * 8 * 4];
    java.util.Arrays.fill(d, (byte) fill);
    return ByteBuffer.wrap(d);
  }

  private static BulkRequest put(int key, ByteBuffer data, int checksumDelta) {
    CRC32C crc = new CRC32C();
    crc.update(data.duplicate());
    return BulkRequest.newBuilder()
        .setPut(
            PutBlocksRequest.newBuilder()
                .setKey(key(key))
                .setHeader(
                    BlockHeader.newBuilder()
                        .setModelId("m")
                        .setDtype("F32")
                        .setTokens(4)
                        .setLayers(2)
                        .setWidth(8)
                        .setTotalBytes(data.remaining())
                        .setChecksum((int) crc.getValue() + checksumDelta)))
        .build();
  }

  private static final BulkRequest COMMIT =
      BulkRequest.newBuilder().setCommit(BulkCommit.getDefaultInstance()).build();

  @Test
  void blocksPutAndGotBackByteForByte() throws IOException {
    try (SocketChannel ch = connect()) {
      BulkFrames.write(ch, put(1, data(7), 0), data(7));
      BulkFrames.write(ch, put(2, data(9), 0), data(9));
      BulkFrames.write(ch, COMMIT);
      BulkReply stored = BulkFrames.read(ch, BulkReply.parser());
      assertThat(stored.getPut().getStored()).isEqualTo(2);

      BulkFrames.write(
          ch,
          BulkRequest.newBuilder()
              .setGet(GetBlocksRequest.newBuilder().addKeys(key(2)).addKeys(key(5)).addKeys(key(1)))
              .build());
      BulkReply first = BulkFrames.read(ch, BulkReply.parser());
      assertThat(first.getBlock().getKey()).isEqualTo(key(2));
      ByteBuffer got = ByteBuffer.allocate((int) first.getBlock().getHeader().getTotalBytes());
      BulkFrames.readFully(ch, got);
      assertThat(got.flip()).isEqualTo(data(9));
      assertThat(BulkFrames.read(ch, BulkReply.parser()).getBlock().getMissing())
          .as("block 5 was never put")
          .isTrue();
      BulkReply third = BulkFrames.read(ch, BulkReply.parser());
      got = ByteBuffer.allocate((int) third.getBlock().getHeader().getTotalBytes());
      BulkFrames.readFully(ch, got);
      assertThat(got.flip()).isEqualTo(data(7));
    }
    assertThat(server.receivedBytes()).isEqualTo(2 * 256);
    assertThat(server.sentBytes()).isEqualTo(2 * 256);
  }

  @Test
  void aBlockFailingItsChecksumFailsThePutAndTheConnectionStaysInStep() throws IOException {
    try (SocketChannel ch = connect()) {
      BulkFrames.write(ch, put(1, data(7), 1), data(7));
      BulkFrames.write(ch, put(2, data(9), 0), data(9));
      BulkFrames.write(ch, COMMIT);
      BulkReply r = BulkFrames.read(ch, BulkReply.parser());
      assertThat(r.getError().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT.value());
      assertThat(r.getError().getMessage()).contains("CRC32C");

      BulkFrames.write(ch, put(3, data(1), 0), data(1));
      BulkFrames.write(ch, COMMIT);
      assertThat(BulkFrames.read(ch, BulkReply.parser()).getPut().getStored()).isEqualTo(1);
    }
    assertThat(store.stats().blocks()).as("only the block put after the failure").isEqualTo(1);
  }

  @Test
  void aBlockLargerThanTheBudgetIsRefusedBeforeItsDataIsKept() throws IOException {
    try (KvBlockStore tiny = KvBlockStore.inMemory(100, 4);
        KvBulkServer small = KvBulkServer.start(tiny, "127.0.0.1", 0);
        SocketChannel ch = SocketChannel.open(new InetSocketAddress("127.0.0.1", small.port()))) {
      BulkFrames.write(ch, put(1, data(7), 0), data(7));
      BulkFrames.write(ch, COMMIT);
      BulkReply r = BulkFrames.read(ch, BulkReply.parser());
      assertThat(r.getError().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED.value());
      assertThat(r.getError().getMessage()).contains("more than the whole budget of 100");
      assertThat(small.receivedBytes()).isZero();
    }
  }

  @Test
  void aHeaderClaimingGigabytesAllocatesOnlyWhatArrives() throws IOException {
    // A budget that admits the claim, so the data is read as it comes.
    server.close();
    store.close();
    store = KvBlockStore.inMemory(4L << 30, 4);
    server = KvBulkServer.start(store, "127.0.0.1", 0);
    long before = usedHeap();
    try (SocketChannel ch = connect()) {
      BulkRequest huge =
          BulkRequest.newBuilder()
              .setPut(
                  PutBlocksRequest.newBuilder()
                      .setKey(key(1))
                      .setHeader(
                          BlockHeader.newBuilder()
                              .setModelId("m")
                              .setDtype("F32")
                              .setTokens(1 << 15)
                              .setLayers(64)
                              .setWidth(128)
                              .setTotalBytes((1L << 15) * 64 * 128 * 4)))
              .build();
      BulkFrames.write(ch, huge, ByteBuffer.allocate(1000));
      // The service waits for more data; it holds one piece, not the 1 GiB the header names.
      sleepUntilReadingStarted();
      assertThat(usedHeap() - before).as("heap held for the block").isLessThan(256L << 20);
    }
  }

  @Test
  void aMessageLongerThanTheLimitClosesTheConnectionAndOthersGoOn() throws IOException {
    try (SocketChannel bad = connect()) {
      bad.write(ByteBuffer.allocate(4).putInt(0, Integer.MAX_VALUE));
      ByteBuffer one = ByteBuffer.allocate(1);
      assertThat(bad.read(one)).as("the service closes the connection").isEqualTo(-1);
    }
    try (SocketChannel ch = connect()) {
      BulkFrames.write(ch, put(1, data(7), 0), data(7));
      BulkFrames.write(ch, COMMIT);
      assertThat(BulkFrames.read(ch, BulkReply.parser()).getPut().getStored()).isEqualTo(1);
    }
  }

  @Test
  void aPinOnTheChannelHoldsWhatWasJustPut() throws IOException {
    try (SocketChannel ch = connect()) {
      BulkFrames.write(ch, put(1, data(7), 0), data(7));
      BulkFrames.write(ch, COMMIT);
      BulkFrames.read(ch, BulkReply.parser());
      BulkFrames.write(
          ch,
          BulkRequest.newBuilder()
              .setPin(PinRequest.newBuilder().setRequestId("r").setTtlMs(60_000).addKeys(key(1)))
              .build());
      assertThat(BulkFrames.read(ch, BulkReply.parser()).getPin().getPinned()).isEqualTo(1);
      assertThat(store.stats().pinnedBytes()).isEqualTo(256);
      BulkFrames.write(
          ch, BulkRequest.newBuilder().setPin(PinRequest.newBuilder().setTtlMs(1)).build());
      assertThat(BulkFrames.read(ch, BulkReply.parser()).getError().getCode())
          .as("a pin without a request id")
          .isEqualTo(Status.Code.INVALID_ARGUMENT.value());
    }
  }

  @Test
  void aRequestWithoutAnOperationIsInvalidArgument() throws IOException {
    try (SocketChannel ch = connect()) {
      BulkFrames.write(ch, BulkRequest.getDefaultInstance());
      BulkReply r = BulkFrames.read(ch, BulkReply.parser());
      assertThat(r.getError().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT.value());
    }
  }

  private static long usedHeap() {
    System.gc();
    Runtime rt = Runtime.getRuntime();
    return rt.totalMemory() - rt.freeMemory();
  }

  private static void sleepUntilReadingStarted() {
    try {
      Thread.sleep(300);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
