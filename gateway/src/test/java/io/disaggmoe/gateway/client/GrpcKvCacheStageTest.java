package io.disaggmoe.gateway.client;

import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.kvcache.core.BlockHeader;
import io.disaggmoe.kvcache.core.BlockName;
import io.disaggmoe.kvcache.core.KvBlockStore;
import io.disaggmoe.kvcache.core.StoredBlock;
import io.disaggmoe.kvcache.grpc.KvCacheGrpcService;
import io.disaggmoe.proto.wire.StageChannels;
import io.grpc.Context;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;

/** The gateway's unpin against a real kv-cache-service over loopback. */
class GrpcKvCacheStageTest {
  @Test
  void anUnpinFromACancelledCallStillEndsTheLease() throws Exception {
    // 4 tokens x 2 layers x 8 F32: one 256-byte block, pinned under the request.
    byte[] data = new byte[256];
    CRC32C crc = new CRC32C();
    crc.update(data);
    KvBlockStore store = KvBlockStore.inMemory(10_000, 4);
    BlockName name = BlockName.hash(new byte[] {1, 2, 3});
    store.put(
        name, new StoredBlock(new BlockHeader("m", "F32", 4, 2, 8, (int) crc.getValue()), data));
    store.pin("r1", List.of(name), 600_000);
    assertThat(store.stats().pinnedBytes()).isEqualTo(256);

    Server server =
        NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
            .addService(new KvCacheGrpcService(store))
            .build()
            .start();
    ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor();
    try (GrpcKvCacheStage stage =
        new GrpcKvCacheStage(
            "127.0.0.1:" + server.getPort(), StageChannels.plaintext(), scheduler)) {
      // What the gateway's GenerateService does when its caller cancels: the unpin is sent from
      // the cancel handler, inside the cancelled call's context.
      Context.CancellableContext cancelled = Context.current().withCancellation();
      cancelled.cancel(null);
      cancelled.run(() -> stage.unpin("r1"));
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
      while (store.stats().pinnedBytes() > 0 && System.nanoTime() < deadline) {
        Thread.sleep(20);
      }
      assertThat(store.stats().pinnedBytes())
          .as("bytes still pinned 5 s after an unpin sent from a cancelled call")
          .isZero();
    } finally {
      scheduler.shutdownNow();
      server.shutdownNow().awaitTermination();
    }
  }
}
