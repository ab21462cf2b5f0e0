package io.disaggmoe.orchestration.grpc;

import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.orchestration.core.Registry;
import io.disaggmoe.orchestration.rebalance.ExpertLoadLedger;
import io.disaggmoe.orchestration.rebalance.Rebalancer;
import io.disaggmoe.orchestration.scaling.ScalingAdvisor;
import io.disaggmoe.orchestration.scaling.ScalingTargets;
import io.disaggmoe.proto.spring.TopologyWatch;
import io.disaggmoe.proto.v1.Instance;
import io.disaggmoe.proto.v1.Topology;
import io.disaggmoe.proto.wire.StageChannels;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;

/**
 * What a gateway or an attention instance sees through {@link TopologyWatch} from a real plane on
 * loopback: every change, in order; and after the plane restarts, the instances it knew kept for
 * one lease while they register again.
 */
class TopologyWatchTest {
  private static final long LEASE_MS = 1_000;

  /** A plane on {@code port} (0: any) over its own registry. */
  private record Plane(Registry registry, Rebalancer rebalancer, Server server)
      implements AutoCloseable {
    static Plane start(int port) throws Exception {
      Registry registry = new Registry(LEASE_MS, System::currentTimeMillis);
      Rebalancer rebalancer =
          new Rebalancer(
              registry,
              new ExpertLoadLedger(),
              StageChannels.plaintext(),
              1.25,
              1,
              Duration.ofSeconds(1));
      Server server =
          NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", port))
              .addService(
                  new ControlPlaneGrpcService(
                      registry,
                      200,
                      new ExpertLoadLedger(),
                      rebalancer,
                      new ScalingAdvisor(registry, ScalingTargets.defaults())))
              .build()
              .start();
      return new Plane(registry, rebalancer, server);
    }

    String address() {
      return "127.0.0.1:" + server.getPort();
    }

    @Override
    public void close() throws InterruptedException {
      rebalancer.close();
      server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  private static List<String> addresses(Topology t) {
    return t.getInstancesList().stream().map(Instance::getAddress).sorted().toList();
  }

  private static Topology next(
      BlockingQueue<Topology> seen, Predicate<Topology> wanted, String what)
      throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (System.nanoTime() < deadline) {
      Topology t = seen.poll(100, TimeUnit.MILLISECONDS);
      if (t != null && wanted.test(t)) {
        return t;
      }
    }
    throw new AssertionError("no topology where " + what + " within 10 s");
  }

  @Test
  void everyChangeArrivesInOrder() throws Exception {
    BlockingQueue<Topology> seen = new LinkedBlockingQueue<>();
    try (Plane plane = Plane.start(0);
        TopologyWatch watch =
            new TopologyWatch(plane.address(), StageChannels.plaintext(), seen::add)) {
      assertThat(next(seen, t -> true, "the first").getInstancesCount()).isZero();
      for (int i = 1; i <= 5; i++) {
        plane.registry().register(ControlPlaneGrpcServiceTest.decode("h:" + i));
      }
      List<Integer> counts = new java.util.ArrayList<>();
      long last = 0;
      while (counts.size() < 5) {
        Topology t = seen.poll(10, TimeUnit.SECONDS);
        assertThat(t).as("change %d", counts.size() + 1).isNotNull();
        assertThat(t.getVersion()).as("versions only grow").isGreaterThan(last);
        last = t.getVersion();
        counts.add(t.getInstancesCount());
      }
      assertThat(counts).containsExactly(1, 2, 3, 4, 5);
    }
  }

  @Test
  void afterAPlaneRestartTheInstancesItKnewAreKeptForALease() throws Exception {
    BlockingQueue<Topology> seen = new LinkedBlockingQueue<>();
    Plane first = Plane.start(0);
    int port = first.server().getPort();
    try (TopologyWatch watch =
        new TopologyWatch(first.address(), StageChannels.plaintext(), seen::add)) {
      first.registry().register(ControlPlaneGrpcServiceTest.decode("h:1"));
      first.registry().register(ControlPlaneGrpcServiceTest.decode("h:2"));
      next(seen, t -> t.getInstancesCount() == 2, "both registered");
      first.close();
      try (Plane again = Plane.start(port);
          var beats = java.util.concurrent.Executors.newSingleThreadScheduledExecutor()) {
        again.registry().register(ControlPlaneGrpcServiceTest.decode("h:1"));
        // h:1 keeps its lease; h:2 is gone and never registers again.
        beats.scheduleAtFixedRate(
            () -> again.registry().heartbeat("decode/h:1"), 0, 200, TimeUnit.MILLISECONDS);
        String epoch = again.registry().topology().getEpoch();
        Topology kept =
            next(seen, t -> t.getEpoch().equals(epoch), "the restarted plane's first topology");
        assertThat(addresses(kept))
            .as("h:2 has not registered again yet, but may: kept for a lease")
            .containsExactly("h:1", "h:2");
        long shown = System.nanoTime();
        Topology after = next(seen, t -> t.getInstancesCount() == 1, "h:2 gone after the lease");
        assertThat(addresses(after)).containsExactly("h:1");
        assertThat(Duration.ofNanos(System.nanoTime() - shown))
            .isLessThan(Duration.ofMillis(LEASE_MS + 2_000));
      }
    }
  }
}
