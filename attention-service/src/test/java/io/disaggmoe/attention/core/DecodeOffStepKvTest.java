package io.disaggmoe.attention.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.attention.client.GrpcKvCacheClient;
import io.disaggmoe.attention.client.KvDtype;
import io.disaggmoe.model.GreedyForward;
import io.disaggmoe.model.ModelIdentity;
import io.disaggmoe.model.sampling.FinishReason;
import io.disaggmoe.model.testing.GoldenCase;
import io.disaggmoe.proto.wire.StageChannels;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.netcrusher.core.reactor.NioReactor;
import org.netcrusher.tcp.TcpCrusher;
import org.netcrusher.tcp.TcpCrusherBuilder;

/**
 * The decode step never waits on kv-cache-service: with the link to it frozen, a running request
 * keeps stepping while a joining one waits for its blocks, and joins once they arrive.
 */
class DecodeOffStepKvTest {
  private static final GoldenCase GOLDEN = GoldenCase.named("v3-yarn");

  @Test
  void aFrozenCacheDelaysOnlyTheRequestWaitingForItsBlocks() throws Exception {
    int[] running = new int[24];
    Arrays.setAll(running, i -> (i * 37 + 5) % 400 + 2);
    int[] joiner = new int[20];
    Arrays.setAll(joiner, i -> (i * 11 + 3) % 300 + 2);
    int runningTokens = 48;
    int joinerTokens = 6;
    try (SplitStack s = new SplitStack(GOLDEN.dir(), 1 << 24, 8, 1 << 24, 512);
        NioReactor reactor = new NioReactor();
        TcpCrusher link = crusher(reactor, s.server.getPort());
        GrpcKvCacheClient kv =
            GrpcKvCacheClient.connect(
                StageChannels.plaintext(),
                "127.0.0.1:" + link.getBindAddress().getPort(),
                ModelIdentity.of(GOLDEN.dir()),
                s.model.config().numHiddenLayers(),
                s.model.config().latentDim(),
                KvDtype.F32,
                Duration.ofSeconds(20));
        DecodeEngine decode =
            new DecodeEngine(
                s.model, kv, new CompletionFactory(null, s.model.config()), 1 << 24, 16)) {
      PrefillResult a = s.prefill("a", "t", running, SplitStack.greedy(runningTokens), false);
      PrefillResult b = s.prefill("b", "t", joiner, SplitStack.greedy(joinerTokens), false);
      SplitStack.Collector first = new SplitStack.Collector();
      decode.submit(
          SplitStack.decodeJob("a", "t", running, a, SplitStack.greedy(runningTokens), false),
          first);
      awaitCount(first, 3, 30);

      link.freeze();
      SplitStack.Collector second = new SplitStack.Collector();
      decode.submit(
          SplitStack.decodeJob("b", "t", joiner, b, SplitStack.greedy(joinerTokens), false),
          second);
      // Well within the 20 s deadline of the frozen fetch: the step thread is not waiting on it.
      assertThat(first.done.get(15, TimeUnit.SECONDS)).isEqualTo(FinishReason.LENGTH);
      assertThat(first.count())
          .as("tokens of the running request while the cache was frozen")
          .isEqualTo(runningTokens - 1);
      assertThat(second.count()).as("the joiner has no blocks yet").isZero();

      link.unfreeze();
      assertThat(second.done.get(30, TimeUnit.SECONDS)).isEqualTo(FinishReason.LENGTH);
      long[] alone = GreedyForward.run(s.model, joiner, joinerTokens - 1).greedyIds();
      int[] expected = Arrays.stream(alone).skip(1).mapToInt(Math::toIntExact).toArray();
      synchronized (second) {
        assertThat(second.ids)
            .as("the joiner's tokens after its blocks arrived")
            .containsExactly(Arrays.stream(expected).boxed().toArray(Integer[]::new));
      }
    }
  }

  /**
   * Requests cancelled while waiting for pages, while their blocks are fetched, and while running
   * all leave their leases released: pinned bytes return to zero once decode's calls land.
   */
  @Test
  void cancelsAtEveryStageOfJoiningReleaseEveryLease() throws Exception {
    // Room for about two requests at a time: the rest wait for pages.
    try (SplitStack s = new SplitStack(GOLDEN.dir(), 1 << 24, 8, 80_000, 512)) {
      for (int i = 0; i < 10; i++) {
        prefillAndDecode(s, "c" + i, prompt(12 + i, i), 30);
      }
      for (int i = 0; i < 10; i++) {
        s.decode.cancel("c" + i);
        Thread.sleep(i % 3);
      }
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while ((s.decode.runningRequests() > 0 || s.decode.usedPages() > 0)
          && System.nanoTime() < deadline) {
        Thread.sleep(1);
      }
      s.settle();
      assertThat(s.decode.runningRequests()).isZero();
      assertThat(s.decode.usedPages()).isZero();
      assertThat(s.store.stats().pinnedBytes()).as("bytes still pinned after the cancels").isZero();
    }
  }

  /**
   * Cancelling waiting requests while the step thread admits others never drops a neighbour: every
   * request left uncancelled runs to its length.
   */
  @Test
  void cancellingWaitingRequestsLosesNoOther() throws Exception {
    try (SplitStack s = new SplitStack(GOLDEN.dir(), 1 << 24, 8, 80_000, 512)) {
      List<SplitStack.Collector> kept = new ArrayList<>();
      for (int i = 0; i < 12; i++) {
        SplitStack.Collector c = prefillAndDecode(s, "w" + i, prompt(10 + i, i + 20), 8);
        if (i % 2 == 1) {
          s.decode.cancel("w" + i);
        } else {
          kept.add(c);
        }
      }
      for (int i = 0; i < kept.size(); i++) {
        assertThat(kept.get(i).done.get(60, TimeUnit.SECONDS))
            .as("request w%d", 2 * i)
            .isEqualTo(FinishReason.LENGTH);
      }
      s.settle();
      assertThat(s.decode.runningRequests()).as("cancelled requests that ran").isZero();
      assertThat(s.store.stats().pinnedBytes()).as("bytes still pinned").isZero();
    }
  }

  /** A prompt of {@code length} ids, different for each {@code seed}. */
  private static int[] prompt(int length, int seed) {
    int[] prompt = new int[length];
    Arrays.setAll(prompt, j -> (j * 29 + seed * 7) % 400 + 2);
    return prompt;
  }

  /** Prefills {@code prompt} as request {@code id} and submits its decode; its stream. */
  private static SplitStack.Collector prefillAndDecode(
      SplitStack s, String id, int[] prompt, int maxTokens) throws Exception {
    PrefillResult p = s.prefill(id, "t", prompt, SplitStack.greedy(maxTokens), false);
    SplitStack.Collector c = new SplitStack.Collector();
    s.decode.submit(
        SplitStack.decodeJob(id, "t", prompt, p, SplitStack.greedy(maxTokens), false), c);
    return c;
  }

  private static void awaitCount(SplitStack.Collector c, int n, int seconds)
      throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    while (c.count() < n && System.nanoTime() < deadline) {
      Thread.sleep(1);
    }
    assertThat(c.count()).isGreaterThanOrEqualTo(n);
  }

  private static TcpCrusher crusher(NioReactor reactor, int port) throws Exception {
    int bind;
    try (ServerSocket free = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      bind = free.getLocalPort();
    }
    return TcpCrusherBuilder.builder()
        .withReactor(reactor)
        .withBindAddress("127.0.0.1", bind)
        .withConnectAddress("127.0.0.1", port)
        .buildAndOpen();
  }
}
