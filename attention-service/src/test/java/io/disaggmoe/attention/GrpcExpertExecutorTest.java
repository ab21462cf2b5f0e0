package io.disaggmoe.attention;

import static io.disaggmoe.model.testing.TensorAssert.assertClose;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.tuple;

import io.disaggmoe.attention.client.GrpcExpertExecutor;
import io.disaggmoe.attention.client.Peers;
import io.disaggmoe.attention.core.ExpertPoolUnavailableException;
import io.disaggmoe.expert.core.ExpertPool;
import io.disaggmoe.expert.core.PoolPause;
import io.disaggmoe.expert.grpc.ExpertGrpcService;
import io.disaggmoe.model.GreedyForward;
import io.disaggmoe.model.LocalModel;
import io.disaggmoe.model.ModelIdentity;
import io.disaggmoe.model.cache.PagedLatentCache;
import io.disaggmoe.model.layer.AttentionMode;
import io.disaggmoe.model.testing.GoldenCase;
import io.disaggmoe.proto.v1.PeerStatus;
import io.disaggmoe.proto.v1.Placement;
import io.disaggmoe.proto.wire.StageChannels;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.netcrusher.core.reactor.NioReactor;
import org.netcrusher.tcp.TcpCrusher;
import org.netcrusher.tcp.TcpCrusherBuilder;

/**
 * The attention side over real gRPC on loopback (pools as Netty servers in this JVM; the CLI tests
 * run them as separate processes): golden logits, replicas, and a pool dying mid-run.
 */
class GrpcExpertExecutorTest {
  private final List<Server> servers = new ArrayList<>();
  private final List<ExpertPool> pools = new ArrayList<>();
  private final List<TcpCrusher> crushers = new ArrayList<>();
  private final NioReactor reactor = newReactor();

  private static NioReactor newReactor() {
    try {
      return new NioReactor();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private String startPool(GoldenCase golden, String share, List<Integer> replicas)
      throws IOException {
    return startPool(golden, share, replicas, ExpertPool.defaultMaxQueuedBytes());
  }

  private String startPool(
      GoldenCase golden, String share, List<Integer> replicas, long maxQueuedBytes)
      throws IOException {
    return startPool(golden, share, replicas, maxQueuedBytes, 0);
  }

  /** A pool serving its share and the gRPC health protocol, as {@code serve expert} does. */
  private String startPool(
      GoldenCase golden, String share, List<Integer> replicas, long maxQueuedBytes, int port)
      throws IOException {
    ExpertPool pool = ExpertPool.load(golden.dir(), share, replicas, 0, maxQueuedBytes);
    Server server =
        NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", port))
            .addService(new ExpertGrpcService(pool))
            .addService(new HealthStatusManager().getHealthService())
            .build()
            .start();
    pools.add(pool);
    servers.add(server);
    return "127.0.0.1:" + server.getPort();
  }

  @AfterEach
  void stop() throws InterruptedException {
    crushers.forEach(TcpCrusher::close);
    reactor.close();
    for (Server s : servers) {
      s.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    pools.forEach(ExpertPool::close);
  }

  static Stream<GoldenCase> cases() {
    return GoldenCase.all();
  }

  private static GrpcExpertExecutor connect(List<String> targets, int experts) {
    return GrpcExpertExecutor.connect(
        targets, experts, Duration.ofSeconds(30), StageChannels.plaintext());
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void twoPoolsReproduceTheLocalModel(GoldenCase golden) throws Exception {
    List<String> targets =
        List.of(startPool(golden, "0/2", List.of()), startPool(golden, "1/2", List.of()));
    assertSameAsLocal(golden, targets, false);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void threePoolsWithRedundantExpertsAndOverlapReproduceTheLocalModel(GoldenCase golden)
      throws Exception {
    int n = io.disaggmoe.model.config.ModelConfigJson.read(golden.dir()).nRoutedExperts();
    // Each pool also holds a few experts of the next pool's share.
    List<String> targets =
        List.of(
            startPool(golden, "0/3", List.of(n / 3, n / 3 + 1)),
            startPool(golden, "1/3", List.of(2 * n / 3)),
            startPool(golden, "2/3", List.of(0, 1)));
    assertSameAsLocal(golden, targets, true);
  }

  private void assertSameAsLocal(GoldenCase golden, List<String> targets, boolean overlap)
      throws Exception {
    int[] prompt = golden.promptIds();
    int steps = golden.greedyIds().length - 1;
    GreedyForward local;
    try (LocalModel m = LocalModel.load(golden.dir(), AttentionMode.ABSORB)) {
      local = GreedyForward.run(m, prompt, steps);
    }
    int experts = pools.get(0).config().nRoutedExperts();
    try (GrpcExpertExecutor remote = connect(targets, experts);
        LocalModel m = LocalModel.load(golden.dir(), AttentionMode.ABSORB, remote)) {
      m.setMicroBatchOverlap(overlap);
      GreedyForward split = GreedyForward.run(m, prompt, steps);
      int vocab = m.config().vocabSize();
      assertClose(golden + " prefill", local.prefillLogits(), split.prefillLogits(), vocab, 1e-5);
      assertClose(golden + " decode", local.decodeLogits(), split.decodeLogits(), vocab, 1e-5);
      // Each token's expert outputs are added in expert order whichever pool ran them: the same
      // floats as in process, so a request's tokens do not depend on the placement.
      assertThat(split.prefillLogits())
          .as("%s prefill logits, bit for bit", golden)
          .isEqualTo(local.prefillLogits());
      assertThat(split.decodeLogits())
          .as("%s decode logits, bit for bit", golden)
          .isEqualTo(local.decodeLogits());
      assertThat(split.greedyIds()).containsExactly(local.greedyIds());
      if (overlap) {
        // Two sequences decode together, so the two micro-batches really overlap.
        try (PagedLatentCache a = m.newCache();
            PagedLatentCache b = m.newCache()) {
          List<float[]> both = m.forward(List.of(a, b), List.of(prompt, prompt), false);
          assertClose(golden + " overlapped batch", both.get(0), both.get(1), vocab, 1e-5);
        }
      }
    }
  }

  @Test
  void aPoolWithAReplicaDyingMidRunChangesNothing() throws Exception {
    GoldenCase golden = GoldenCase.named("v3-tiny");
    List<String> targets =
        List.of(
            startPool(golden, "0/2", List.of()),
            startPool(golden, "1/2", List.of()),
            startPool(golden, "0/2", List.of()));
    assertThat(
            greedyIds(golden, targets, Duration.ofSeconds(30), () -> servers.get(0).shutdownNow()))
        .containsExactly(golden.greedyIds());
  }

  @Test
  void aPoolWithoutReplicaDyingFailsTheStepNamingPoolAndLayer() throws Exception {
    GoldenCase golden = GoldenCase.named("v3-tiny");
    List<String> targets =
        List.of(startPool(golden, "0/2", List.of()), startPool(golden, "1/2", List.of()));
    try (GrpcExpertExecutor remote = connect(targets, 16);
        LocalModel m = LocalModel.load(golden.dir(), AttentionMode.ABSORB, remote);
        PagedLatentCache cache = m.newCache()) {
      servers.get(1).shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      assertThatThrownBy(() -> m.forward(List.of(cache), List.of(golden.promptIds()), false))
          .isInstanceOf(ExpertPoolUnavailableException.class)
          .hasMessageContaining(targets.get(1))
          .hasMessageContaining("layer 1");
    }
  }

  @Test
  void aPoolRestartedOnItsAddressIsTakenBackIntoRotation() throws Exception {
    GoldenCase golden = GoldenCase.named("v3-tiny");
    List<String> targets =
        List.of(startPool(golden, "0/2", List.of()), startPool(golden, "1/2", List.of()));
    try (GrpcExpertExecutor remote = connect(targets, 16);
        LocalModel m = LocalModel.load(golden.dir(), AttentionMode.ABSORB, remote)) {
      int port = servers.get(1).getPort();
      servers.get(1).shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      try (PagedLatentCache cache = m.newCache()) {
        assertThatThrownBy(() -> m.forward(List.of(cache), List.of(golden.promptIds()), false))
            .isInstanceOf(ExpertPoolUnavailableException.class);
      }
      assertThat(new Peers(remote, null).now())
          .extracting(PeerStatus::getAddress, PeerStatus::getReachable)
          .containsExactly(tuple(targets.get(0), true), tuple(targets.get(1), false));
      startPool(golden, "1/2", List.of(), ExpertPool.defaultMaxQueuedBytes(), port);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
      while (true) {
        try (PagedLatentCache cache = m.newCache()) {
          float[] logits = m.forward(List.of(cache), List.of(golden.promptIds()), true).get(0);
          int vocab = m.config().vocabSize();
          int last = (golden.promptIds().length - 1) * vocab;
          assertThat(GreedyForward.argmax(logits, last, vocab))
              .as("first greedy id through the restarted pool")
              .isEqualTo(golden.greedyIds()[0]);
          assertThat(new Peers(remote, null).now()).allMatch(PeerStatus::getReachable);
          break;
        } catch (ExpertPoolUnavailableException e) {
          if (System.nanoTime() > deadline) {
            throw new AssertionError("the restarted pool was not used again within 20 s", e);
          }
          Thread.sleep(100);
        }
      }
    }
  }

  @Test
  void aFullPoolsShareGoesToItsReplica() throws Exception {
    GoldenCase golden = GoldenCase.named("v3-tiny");
    // Pool 0/2 may queue one byte, and one dispatch held behind its paused compute thread takes
    // it: it refuses every dispatch with RESOURCE_EXHAUSTED until the pause ends.
    List<String> targets =
        List.of(
            startPool(golden, "0/2", List.of(), 1),
            startPool(golden, "1/2", List.of(0, 1, 2, 3, 4, 5, 6, 7)));
    ExpertPool full = pools.get(0);
    try (PoolPause paused = new PoolPause(full)) {
      CompletableFuture<?> occupying = occupy(full);
      assertThat(greedyIds(golden, targets, Duration.ofSeconds(30), () -> {}))
          .containsExactly(golden.greedyIds());
      assertThat(occupying).isNotDone();
      assertThat(full.load().layer(1)[0])
          .as("tokens pool 0/2 took for expert 0 of layer 1")
          .isOne();
    }
  }

  @Test
  void aFullPoolWithoutReplicaFailsTheStepSayingItIsFull() throws Exception {
    GoldenCase golden = GoldenCase.named("v3-tiny");
    List<String> targets =
        List.of(startPool(golden, "0/2", List.of(), 1), startPool(golden, "1/2", List.of()));
    ExpertPool full = pools.get(0);
    try (PoolPause paused = new PoolPause(full);
        GrpcExpertExecutor remote = connect(targets, 16);
        LocalModel m = LocalModel.load(golden.dir(), AttentionMode.ABSORB, remote);
        PagedLatentCache cache = m.newCache()) {
      occupy(full);
      assertThatThrownBy(() -> m.forward(List.of(cache), List.of(golden.promptIds()), false))
          .isInstanceOf(ExpertPoolUnavailableException.class)
          .hasMessageContaining(targets.get(0))
          .hasMessageContaining("RESOURCE_EXHAUSTED")
          .hasMessageContaining("disaggmoe.expert.max-queued");
    }
  }

  /** One token for expert 0 of layer 1, queued behind the paused compute thread of {@code pool}. */
  private static CompletableFuture<?> occupy(ExpertPool pool) {
    int dim = pool.config().hiddenSize();
    ByteBuffer one = ByteBuffer.allocate(dim * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
    return pool.dispatch(1, one, new int[] {0}, new float[] {1f}, 1);
  }

  @Test
  void aPoolWithAReplicaThatStopsAnsweringIsPassedOverAtTheDeadline() throws Exception {
    GoldenCase golden = GoldenCase.named("v3-tiny");
    TcpCrusher silent = crusher(startPool(golden, "0/2", List.of()));
    List<String> targets =
        List.of(
            target(silent),
            startPool(golden, "1/2", List.of()),
            startPool(golden, "0/2", List.of()));
    // Frozen, the connection stays open and takes no bytes: only the deadline can tell.
    assertThat(greedyIds(golden, targets, Duration.ofSeconds(2), silent::freeze))
        .containsExactly(golden.greedyIds());
  }

  @Test
  void aPoolWithoutReplicaThatStopsAnsweringFailsTheStepAtTheDeadline() throws Exception {
    GoldenCase golden = GoldenCase.named("v3-tiny");
    TcpCrusher silent = crusher(startPool(golden, "1/2", List.of()));
    List<String> targets = List.of(startPool(golden, "0/2", List.of()), target(silent));
    try (GrpcExpertExecutor remote =
            GrpcExpertExecutor.connect(
                targets, 16, Duration.ofSeconds(2), StageChannels.plaintext());
        LocalModel m = LocalModel.load(golden.dir(), AttentionMode.ABSORB, remote);
        PagedLatentCache cache = m.newCache()) {
      silent.freeze();
      long start = System.nanoTime();
      assertThatThrownBy(() -> m.forward(List.of(cache), List.of(golden.promptIds()), false))
          .isInstanceOf(ExpertPoolUnavailableException.class)
          .hasMessageContaining(target(silent))
          .hasMessageContaining("layer 1")
          .hasMessageContaining("within its deadline");
      assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(10));
    }
  }

  /** Greedy decode of the golden prompt over {@code targets}; {@code fault} runs before step 3. */
  private static int[] greedyIds(
      GoldenCase golden, List<String> targets, Duration deadline, Runnable fault) throws Exception {
    try (GrpcExpertExecutor remote =
        GrpcExpertExecutor.connect(targets, 16, deadline, StageChannels.plaintext())) {
      return greedyIds(golden, remote, fault);
    }
  }

  /** Greedy decode of the golden prompt over {@code remote}; {@code fault} runs before step 3. */
  private static int[] greedyIds(GoldenCase golden, GrpcExpertExecutor remote, Runnable fault)
      throws Exception {
    int[] prompt = golden.promptIds();
    int steps = golden.greedyIds().length - 1;
    try (LocalModel m = LocalModel.load(golden.dir(), AttentionMode.ABSORB, remote);
        PagedLatentCache cache = m.newCache()) {
      int vocab = m.config().vocabSize();
      float[] prefill = m.forward(List.of(cache), List.of(prompt), true).get(0);
      int token = GreedyForward.argmax(prefill, (prompt.length - 1) * vocab, vocab);
      int[] ids = new int[steps + 1];
      ids[0] = token;
      for (int j = 0; j < steps; j++) {
        if (j == 3) {
          fault.run();
        }
        float[] logits = m.forward(List.of(cache), List.of(new int[] {token}), false).get(0);
        token = GreedyForward.argmax(logits, 0, vocab);
        ids[j + 1] = token;
      }
      return ids;
    }
  }

  /** A NetCrusher TCP proxy on a free loopback port in front of {@code target}. */
  private TcpCrusher crusher(String target) throws IOException {
    int port;
    try (ServerSocket free = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      port = free.getLocalPort();
    }
    String[] hostPort = target.split(":");
    TcpCrusher crusher =
        TcpCrusherBuilder.builder()
            .withReactor(reactor)
            .withBindAddress("127.0.0.1", port)
            .withConnectAddress(hostPort[0], Integer.parseInt(hostPort[1]))
            .buildAndOpen();
    crushers.add(crusher);
    return crusher;
  }

  private static String target(TcpCrusher crusher) {
    return "127.0.0.1:" + crusher.getBindAddress().getPort();
  }

  /** Per MoE layer of v3-tiny (1..3), each pool's experts: a different split in every layer. */
  private static Map<Integer, List<Integer>> perLayer(int offset) {
    Map<Integer, List<Integer>> layers = new TreeMap<>();
    for (int layer = 1; layer <= 3; layer++) {
      List<Integer> held = new ArrayList<>();
      for (int e = 0; e < 16; e++) {
        if ((e + layer + offset) % 2 == 0) {
          held.add(e);
        }
      }
      layers.put(layer, held);
    }
    return layers;
  }

  private static Placement published(ExpertPool pool) {
    return ExpertGrpcService.placement(pool);
  }

  @Test
  void aLiveSwitchToAnotherPlacementPerLayerKeepsTheGreedyIds() throws Exception {
    GoldenCase golden = GoldenCase.named("v3-tiny");
    List<String> targets =
        List.of(startPool(golden, "0/2", List.of()), startPool(golden, "1/2", List.of()));
    try (GrpcExpertExecutor remote = connect(targets, 16)) {
      int[] ids =
          greedyIds(
              golden,
              remote,
              () -> {
                // As the control plane does: load, route by the new placement, then drop.
                for (int p = 0; p < 2; p++) {
                  pools.get(p).setPlacement(perLayer(p), 7, false);
                }
                Map<String, Placement> next = new LinkedHashMap<>();
                for (int p = 0; p < 2; p++) {
                  pools.get(p).setPlacement(perLayer(p), 7, true);
                  next.put(targets.get(p), published(pools.get(p)));
                }
                remote.route(next, 42);
              });
      assertThat(ids).containsExactly(golden.greedyIds());
      assertThat(remote.routedVersion()).isEqualTo(42);
      assertThat(pools.get(0).placement().layers().get(1))
          .containsExactlyElementsOf(perLayer(0).get(1));
      assertThat(pools.get(0).residentBytes())
          .as("half the experts of each layer, the old ones dropped")
          .isEqualTo(pools.get(1).residentBytes());
    }
  }

  @Test
  void aPassStartedBeforeAnotherPlacementIsPublishedRoutesByTheOldOne() throws Exception {
    GoldenCase golden = GoldenCase.named("v3-tiny");
    List<String> targets =
        List.of(startPool(golden, "0/2", List.of()), startPool(golden, "1/2", List.of()));
    try (GrpcExpertExecutor remote = connect(targets, 16)) {
      remote.beginPass();
      Map<String, Placement> next = new LinkedHashMap<>();
      for (int p = 0; p < 2; p++) {
        next.put(targets.get(p), published(pools.get(p)));
      }
      remote.route(next, 5);
      assertThat(remote.routedVersion()).as("during the pass").isZero();
      remote.endPass();
      assertThat(remote.routedVersion()).as("between passes: the next one's").isEqualTo(5);
    }
  }

  @Test
  void aDispatchWhoseExpertsNoLivePoolHoldsWaitsForThemToBePlacedAgain() throws Exception {
    GoldenCase golden = GoldenCase.named("v3-tiny");
    List<String> targets =
        List.of(startPool(golden, "0/2", List.of()), startPool(golden, "1/2", List.of()));
    try (GrpcExpertExecutor remote = connect(targets, 16)) {
      remote.setFailoverWait(Duration.ofSeconds(20));
      int[] ids =
          greedyIds(
              golden,
              remote,
              () -> {
                try {
                  servers.get(1).shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                  throw new IllegalStateException(e);
                }
                // The plane's part, a little later: the survivor loads the dead pool's experts.
                Thread.ofVirtual()
                    .start(
                        () -> {
                          try {
                            Thread.sleep(300);
                          } catch (InterruptedException e) {
                            return;
                          }
                          pools.get(0).setPlacement(all(16), 3, false);
                          remote.route(Map.of(targets.get(0), published(pools.get(0))), 9);
                        });
              });
      assertThat(ids).containsExactly(golden.greedyIds());
    }
  }

  /** Every one of {@code experts} in each MoE layer of v3-tiny. */
  private static Map<Integer, List<Integer>> all(int experts) {
    Map<Integer, List<Integer>> layers = new TreeMap<>();
    for (int layer = 1; layer <= 3; layer++) {
      layers.put(layer, java.util.stream.IntStream.range(0, experts).boxed().toList());
    }
    return layers;
  }

  @Test
  void poolsOfAnotherModelAreRefusedNamingBothIds() throws Exception {
    GoldenCase tiny = GoldenCase.named("v3-tiny");
    List<String> targets =
        List.of(startPool(tiny, "0/2", List.of()), startPool(tiny, "1/2", List.of()));
    try (GrpcExpertExecutor remote = connect(targets, 16)) {
      remote.requireModel(ModelIdentity.of(tiny.dir()));
      String other = ModelIdentity.of(GoldenCase.named("v3-yarn").dir());
      assertThatThrownBy(() -> remote.requireModel(other))
          .isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("serves model " + ModelIdentity.of(tiny.dir()))
          .hasMessageContaining("not this instance's " + other);
    }
  }

  @Test
  void poolsThatDoNotCoverEveryExpertAreRefused() throws Exception {
    GoldenCase golden = GoldenCase.named("v3-tiny");
    String half = startPool(golden, "0/2", List.of());
    assertThatThrownBy(() -> connect(List.of(half), 16))
        .hasMessageContaining("layer 1: [8, 9, 10, 11, 12, 13, 14, 15]");
  }
}
