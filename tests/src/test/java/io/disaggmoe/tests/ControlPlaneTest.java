package io.disaggmoe.tests;

import static org.assertj.core.api.Assertions.assertThat;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.models.completions.CompletionCreateParams;
import io.disaggmoe.proto.v1.ControlPlaneGrpc;
import io.disaggmoe.proto.v1.ExpertServiceGrpc;
import io.disaggmoe.proto.v1.GetPlacementRequest;
import io.disaggmoe.proto.v1.GetTopologyRequest;
import io.disaggmoe.proto.v1.Instance;
import io.disaggmoe.proto.v1.LayerExperts;
import io.disaggmoe.proto.v1.Placement;
import io.disaggmoe.proto.v1.RebalanceRequest;
import io.disaggmoe.proto.v1.RebalanceResponse;
import io.disaggmoe.proto.v1.Role;
import io.disaggmoe.proto.v1.Topology;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;

/**
 * The control plane in a running {@code up --processes} suite, under steady greedy load through the
 * gateway: a forced rebalancing moves the expert placement live (pools load, attention instances
 * switch between passes, pools drop), then a pool killed with SIGKILL leaves the topology within
 * two leases and the experts only it held are placed on the other pool; the plane is killed and
 * started again, and every instance registers with it again; the prefill instance is killed and
 * leaves the topology, and the gateway sends prompts to the decode instance. Every request of the
 * load completes with its undisturbed greedy text.
 */
class ControlPlaneTest {
  static final int PROMPTS = 6;
  static final int TOKENS = 24;
  static final long LEASE_MS = 5_000;

  @TempDir Path work;

  static CompletionCreateParams request(int i) {
    return Greedy.completion("Request " + i + " asks the pools about", TOKENS);
  }

  /** One request of the load: which prompt, when it ran, and what came back (null: it failed). */
  record Sent(int prompt, long startNanos, long endNanos, String text, String error) {}

  /** Requests sent one after the other on two threads until stopped. */
  static final class Load implements AutoCloseable {
    final List<Sent> sent = new CopyOnWriteArrayList<>();
    private final List<Thread> threads = new ArrayList<>();
    private volatile boolean stop;

    Load(OpenAIClient client) {
      for (int t = 0; t < 2; t++) {
        int first = t;
        threads.add(
            Thread.ofPlatform()
                .start(
                    () -> {
                      for (int i = first; !stop; i += 2) {
                        int prompt = i % PROMPTS;
                        long start = System.nanoTime();
                        try {
                          String text =
                              client
                                  .completions()
                                  .create(request(prompt))
                                  .choices()
                                  .getFirst()
                                  .text();
                          sent.add(new Sent(prompt, start, System.nanoTime(), text, null));
                        } catch (RuntimeException e) {
                          sent.add(new Sent(prompt, start, System.nanoTime(), null, e.toString()));
                        }
                      }
                    }));
      }
    }

    /** Waits until {@code n} requests that started after {@code nanos} have ended. */
    void awaitEndedAfter(long nanos, int n) throws InterruptedException {
      long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
      while (sent.stream().filter(s -> s.startNanos() > nanos).count() < n
          && System.nanoTime() < deadline) {
        Thread.sleep(20);
      }
    }

    /** Requests that were running at {@code nanos}. */
    long spanning(long nanos) {
      return sent.stream().filter(s -> s.startNanos() < nanos && s.endNanos() > nanos).count();
    }

    @Override
    public void close() throws InterruptedException {
      stop = true;
      for (Thread t : threads) {
        t.join(TimeUnit.MINUTES.toMillis(3));
      }
    }
  }

  @Test
  void placementMovesLiveAndADeadPoolsExpertsArePlacedAgainWithoutAFailedRequest()
      throws Exception {
    try (RunningSuite suite = RunningSuite.start(work)) {
      OpenAIClient client =
          OpenAIOkHttpClient.builder()
              .baseUrl(suite.url() + "/v1")
              .apiKey("none")
              .timeout(Duration.ofMinutes(2))
              .maxRetries(0)
              .build();
      List<String> expected = new ArrayList<>();
      for (int i = 0; i < PROMPTS; i++) {
        expected.add(client.completions().create(request(i)).choices().getFirst().text());
      }
      ManagedChannel plane =
          NettyChannelBuilder.forTarget(suite.controlPlane()).usePlaintext().build();
      var stub = ControlPlaneGrpc.newBlockingStub(plane);
      Load load = new Load(client);
      try {
        // Long enough for the pools' load reports (one per heartbeat) to reach the plane.
        Thread.sleep(3_000);
        long switchStarted = System.nanoTime();
        RebalanceResponse r =
            stub.withDeadlineAfter(2, TimeUnit.MINUTES)
                .rebalance(RebalanceRequest.newBuilder().setForce(true).build());
        long switchEnded = System.nanoTime();
        assertThat(r.getSwitched()).as("switched: %s", r).isTrue();
        assertThat(r.getReason()).as("every attention instance took it up").isEmpty();
        System.out.printf(
            "live switch: max/mean pool load %.3f -> %.3f, %d ms%n",
            r.getMaxOverMeanBefore(), r.getMaxOverMeanAfter(), r.getSwitchMs());
        List<Instance> pools = pools(stub.getTopology(GetTopologyRequest.getDefaultInstance()));
        assertThat(pools).hasSize(2);
        for (Instance p : pools) {
          assertThat(p.getPlacement().getVersion()).isEqualTo(r.getVersion());
          assertThat(layers(placementOf(p.getAddress())))
              .as("pool %s holds what the plane published, the old copies dropped", p.getId())
              .isEqualTo(layers(p.getPlacement()));
        }
        load.awaitEndedAfter(switchEnded, 4);

        JsonNode victim = suite.services("expert").getFirst();
        String victimAddress = victim.get("address").asString();
        String survivor =
            pools.stream()
                .map(Instance::getAddress)
                .filter(a -> !a.equals(victimAddress))
                .findFirst()
                .orElseThrow();
        long killed = System.nanoTime();
        ProcessHandle.of(victim.get("pid").asLong()).orElseThrow().destroyForcibly();
        awaitTopology(
            suite,
            stub,
            t -> pools(t).stream().noneMatch(p -> p.getAddress().equals(victimAddress)),
            "the killed pool left the topology",
            2 * LEASE_MS + 2_000);
        long removed = System.nanoTime();
        int experts = pools.getFirst().getPlacement().getRoutedExperts();
        awaitTopology(
            suite,
            stub,
            t -> holdsAll(placementOf(survivor), experts),
            "the survivor holds every expert of every layer",
            10_000);
        long replaced = System.nanoTime();
        System.out.printf(
            "pool killed: out of the topology after %d ms, its experts placed again after %d ms%n",
            (removed - killed) / 1_000_000, (replaced - killed) / 1_000_000);
        load.awaitEndedAfter(replaced, 4);

        // The plane dies and comes back on its port: serving never waits for it, and every
        // instance registers again from its heartbeats.
        JsonNode planeService = suite.services("control-plane").getFirst();
        long planeKilled = System.nanoTime();
        ProcessHandle.of(planeService.get("pid").asLong()).orElseThrow().destroyForcibly();
        load.awaitEndedAfter(planeKilled, 4);
        String port = suite.controlPlane().substring(suite.controlPlane().lastIndexOf(':') + 1);
        Process again = RunningSuite.serve("control-plane", "--port", port, "--host", "127.0.0.1");
        try {
          awaitTopology(
              suite,
              stub.withWaitForReady(),
              t -> t.getInstancesCount() == 5,
              "every live instance registered with the restarted plane",
              60_000);
          long planeBack = System.nanoTime();
          System.out.printf(
              "plane killed and restarted: all 5 instances registered again after %d ms%n",
              (planeBack - planeKilled) / 1_000_000);
          load.awaitEndedAfter(planeBack, 4);

          // The prefill instance dies: it leaves the topology, the gateway routes prompts to the
          // decode instance, and requests on it at the kill are retried.
          JsonNode prefill = suite.services("prefill").getFirst();
          String prefillAddress = prefill.get("address").asString();
          long prefillKilled = System.nanoTime();
          ProcessHandle.of(prefill.get("pid").asLong()).orElseThrow().destroyForcibly();
          awaitTopology(
              suite,
              stub,
              t ->
                  t.getInstancesList().stream()
                      .noneMatch(i -> i.getAddress().equals(prefillAddress)),
              "the killed prefill instance left the topology",
              2 * LEASE_MS + 2_000);
          long prefillGone = System.nanoTime();
          System.out.printf(
              "prefill killed: out of the topology after %d ms%n",
              (prefillGone - prefillKilled) / 1_000_000);
          load.awaitEndedAfter(prefillGone, 4);
          load.close();
          System.out.printf(
              "requests running at the switch's start %d, at its end %d, at the pool's kill %d,"
                  + " at the plane's kill %d, at the prefill's kill %d%n",
              load.spanning(switchStarted),
              load.spanning(switchEnded),
              load.spanning(killed),
              load.spanning(planeKilled),
              load.spanning(prefillKilled));
          assertThat(load.spanning(switchStarted) + load.spanning(switchEnded))
              .as("requests running across the switch")
              .isPositive();
          assertThat(load.spanning(killed)).as("requests running when the pool died").isPositive();
        } finally {
          again.destroyForcibly();
        }
      } finally {
        load.close();
        plane.shutdownNow();
      }
      assertThat(load.sent).hasSizeGreaterThan(10);
      for (Sent s : load.sent) {
        assertThat(s.error()).as("request for prompt %d failed", s.prompt()).isNull();
        assertThat(s.text())
            .as("greedy text of prompt %d", s.prompt())
            .isEqualTo(expected.get(s.prompt()));
      }
    }
  }

  private static List<Instance> pools(Topology t) {
    return t.getInstancesList().stream().filter(i -> i.getRole() == Role.ROLE_EXPERT_POOL).toList();
  }

  private static List<List<Integer>> layers(Placement p) {
    return p.getLayersList().stream().map(LayerExperts::getExpertsList).toList();
  }

  private static boolean holdsAll(Placement p, int experts) {
    return p.getLayersList().stream()
        .allMatch(l -> new TreeSet<>(l.getExpertsList()).size() == experts);
  }

  private static Placement placementOf(String pool) {
    ManagedChannel ch = NettyChannelBuilder.forTarget(pool).usePlaintext().build();
    try {
      return ExpertServiceGrpc.newBlockingStub(ch)
          .withDeadlineAfter(5, TimeUnit.SECONDS)
          .getPlacement(GetPlacementRequest.getDefaultInstance());
    } finally {
      ch.shutdownNow();
    }
  }

  private static void awaitTopology(
      RunningSuite suite,
      ControlPlaneGrpc.ControlPlaneBlockingStub stub,
      Predicate<Topology> done,
      String what,
      long limitMs)
      throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(limitMs);
    Topology last = stub.getTopology(GetTopologyRequest.getDefaultInstance());
    while (!done.test(last) && System.nanoTime() < deadline) {
      Thread.sleep(20);
      last = stub.getTopology(GetTopologyRequest.getDefaultInstance());
    }
    assertThat(done.test(last))
        .as(
            "%s within %d ms; topology %s; the suite printed:%n%s",
            what, limitMs, last, suite.output())
        .isTrue();
  }
}
