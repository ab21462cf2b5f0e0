package io.disaggmoe.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import io.disaggmoe.attention.client.GrpcKvCacheClient;
import io.disaggmoe.attention.client.KvDtype;
import io.disaggmoe.attention.client.LatentBlock;
import io.disaggmoe.proto.v1.BlockHeader;
import io.disaggmoe.proto.v1.BlockKey;
import io.disaggmoe.proto.v1.BulkCommit;
import io.disaggmoe.proto.v1.BulkReply;
import io.disaggmoe.proto.v1.BulkRequest;
import io.disaggmoe.proto.v1.GetStatsRequest;
import io.disaggmoe.proto.v1.GetTransportRequest;
import io.disaggmoe.proto.v1.KvCacheServiceGrpc;
import io.disaggmoe.proto.v1.KvCacheStats;
import io.disaggmoe.proto.v1.PutBlocksRequest;
import io.disaggmoe.proto.wire.BulkFrames;
import io.disaggmoe.proto.wire.StageChannels;
import io.grpc.ManagedChannel;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * kill -9 of a {@code serve kv-cache --disk} process in the middle of a stream of durable puts:
 * once restarted on the same directory, every block it acknowledged as durable is served intact,
 * and every other block it was sent is either intact or cleanly missing, never corrupt.
 */
class KvCacheCrashTest {
  // 16 tokens x 4 layers x 256 F32: 64 KiB per block, so a kill lands inside file writes.
  private static final int TOKENS = 16;
  private static final int LAYERS = 4;
  private static final int WIDTH = 256;
  private static final long MEMORY = 4L << 20;
  private static final String DISK = String.valueOf(1L << 30);

  private static float[] values(int block) {
    float[] v = new float[TOKENS * LAYERS * WIDTH];
    for (int i = 0; i < v.length; i++) {
      v[i] = block * 100_000f + i;
    }
    return v;
  }

  private static byte[] hash(int block) {
    return ByteBuffer.allocate(4).putInt(block).array();
  }

  @Test
  void everyAcknowledgedBlockSurvivesAKillAndNoneComesBackCorrupt(@TempDir Path dir)
      throws Exception {
    AtomicInteger acknowledged = new AtomicInteger(-1);
    AtomicInteger sent = new AtomicInteger(-1);
    try (ServiceProcess kv =
        ServiceProcess.kvCache(MEMORY, TOKENS, "--disk", dir.toString(), "--disk-capacity", DISK)) {
      int bulkPort = bulkPort(kv.target());
      CompletableFuture<Void> writer =
          CompletableFuture.runAsync(() -> writeDurably(bulkPort, sent, acknowledged));
      while (acknowledged.get() < 200 && !writer.isDone()) {
        Thread.sleep(5);
      }
      kv.kill();
      writer.handle((ok, err) -> null).join();
    }
    assertThat(acknowledged.get())
        .as("durable puts acknowledged before the kill")
        .isGreaterThan(199);

    try (ServiceProcess kv =
            ServiceProcess.kvCache(
                MEMORY, TOKENS, "--disk", dir.toString(), "--disk-capacity", DISK);
        GrpcKvCacheClient client =
            GrpcKvCacheClient.connect(
                StageChannels.plaintext(),
                kv.target(),
                "m",
                LAYERS,
                WIDTH,
                KvDtype.F32,
                Duration.ofSeconds(30))) {
      int missing = 0;
      for (int b = 0; b <= sent.get(); b++) {
        List<LatentBlock> got = client.getLeading(List.of(hash(b)));
        if (got.isEmpty()) {
          assertThat(b)
              .as("block %d was acknowledged durable, yet is missing", b)
              .isGreaterThan(acknowledged.get());
          missing++;
          continue;
        }
        assertThat(got.get(0).data()).as("block %d after the restart", b).isEqualTo(values(b));
      }
      KvCacheStats s = stats(kv.target());
      assertThat(s.getBlocks()).isEqualTo(sent.get() + 1 - missing);
    }
  }

  private static int bulkPort(String target) {
    ManagedChannel ch = StageChannels.plaintext().open(target, StageChannels.Kind.KV_BLOCKS);
    try {
      return KvCacheServiceGrpc.newBlockingStub(ch)
          .getTransport(GetTransportRequest.getDefaultInstance())
          .getBulkPort();
    } finally {
      ch.shutdownNow();
    }
  }

  private static KvCacheStats stats(String target) {
    ManagedChannel ch = StageChannels.plaintext().open(target, StageChannels.Kind.KV_BLOCKS);
    try {
      return KvCacheServiceGrpc.newBlockingStub(ch).getStats(GetStatsRequest.getDefaultInstance());
    } finally {
      ch.shutdownNow();
    }
  }

  /**
   * Puts block after block, each durable and committed on its own, until the service dies; {@code
   * sent} is the last block whose bytes left, {@code acknowledged} the last one the service said is
   * synced.
   */
  private static void writeDurably(int port, AtomicInteger sent, AtomicInteger acknowledged) {
    try (SocketChannel ch = SocketChannel.open(new InetSocketAddress("127.0.0.1", port))) {
      for (int b = 0; ; b++) {
        ByteBuffer data = ByteBuffer.allocate(TOKENS * LAYERS * WIDTH * 4);
        data.order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().put(values(b));
        CRC32C crc = new CRC32C();
        crc.update(data.duplicate());
        PutBlocksRequest put =
            PutBlocksRequest.newBuilder()
                .setKey(BlockKey.newBuilder().setHash(ByteString.copyFrom(hash(b))))
                .setDurable(true)
                .setHeader(
                    BlockHeader.newBuilder()
                        .setModelId("m")
                        .setDtype("F32")
                        .setTokens(TOKENS)
                        .setLayers(LAYERS)
                        .setWidth(WIDTH)
                        .setTotalBytes(data.capacity())
                        .setChecksum((int) crc.getValue()))
                .build();
        sent.set(b);
        BulkFrames.write(ch, BulkRequest.newBuilder().setPut(put).build(), data);
        BulkFrames.write(
            ch, BulkRequest.newBuilder().setCommit(BulkCommit.getDefaultInstance()).build());
        BulkReply r = BulkFrames.read(ch, BulkReply.parser());
        if (r == null || r.getPut().getDurable() != 1) {
          return;
        }
        acknowledged.set(b);
      }
    } catch (IOException e) {
      // The service was killed.
    }
  }
}
