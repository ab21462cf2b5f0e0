package io.disaggmoe.attention.client;

import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.kvcache.core.KvBlockStore;
import io.disaggmoe.kvcache.grpc.KvCacheGrpcService;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Blocks through a real kv-cache-service over loopback gRPC, in each cache dtype. */
class GrpcKvCacheClientTest {
  // 64 tokens x 61 layers x 576: DeepSeek-V3's block, 9 MB in F32, several chunks each way.
  private static final int TOKENS = 64;
  private static final int LAYERS = 61;
  private static final int WIDTH = 576;

  private Server server;

  @BeforeEach
  void start() throws Exception {
    server =
        NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
            .addService(new KvCacheGrpcService(KvBlockStore.inMemory(256L << 20, TOKENS)))
            .maxInboundMessageSize(8 << 20)
            .build()
            .start();
  }

  @AfterEach
  void stop() {
    server.shutdownNow();
  }

  private GrpcKvCacheClient client(KvDtype dtype) {
    return GrpcKvCacheClient.connect(
        "127.0.0.1:" + server.getPort(), "m", LAYERS, WIDTH, dtype, Duration.ofSeconds(30));
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
  @EnumSource(KvDtype.class)
  void multiChunkBlocksComeBackAsTheirDtypeKeepsThem(KvDtype dtype) {
    List<LatentBlock> blocks = List.of(block(1), block(2), block(3));
    List<byte[]> hashes = new ArrayList<>();
    for (int i = 0; i < blocks.size(); i++) {
      hashes.add(new byte[] {(byte) i, 7});
    }
    try (GrpcKvCacheClient c = client(dtype)) {
      c.putBlocks(hashes, blocks);
      List<LatentBlock> back = c.getLeading(hashes);
      assertThat(back).hasSize(3);
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
  @EnumSource(KvDtype.class)
  void aReaderOfEitherDtypeReadsBlocksPutAsTheOther(KvDtype writer) {
    KvDtype reader = writer == KvDtype.F32 ? KvDtype.BF16 : KvDtype.F32;
    LatentBlock tail = new LatentBlock(3, new float[3 * LAYERS * WIDTH]);
    tail.data()[5] = 1.5f;
    try (GrpcKvCacheClient w = client(writer);
        GrpcKvCacheClient r = client(reader)) {
      w.putTail("req-1", tail);
      LatentBlock back = r.getTail("req-1");
      assertThat(back.tokens()).isEqualTo(3);
      assertThat(back.data()[5]).isEqualTo(1.5f);
      assertThat(r.getTail("req-2")).isNull();
    }
  }
}
