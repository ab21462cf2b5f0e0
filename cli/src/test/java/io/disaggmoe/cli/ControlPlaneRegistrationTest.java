package io.disaggmoe.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.proto.v1.ControlPlaneGrpc;
import io.disaggmoe.proto.v1.GetStatsRequest;
import io.disaggmoe.proto.v1.GetTopologyRequest;
import io.disaggmoe.proto.v1.Instance;
import io.disaggmoe.proto.v1.KvCacheServiceGrpc;
import io.disaggmoe.proto.v1.Role;
import io.disaggmoe.proto.wire.StageChannels;
import io.grpc.ManagedChannel;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * Real Spring services on loopback: a stage registers with the control plane and keeps its lease;
 * while the plane is down the stage serves on; a plane started again learns it back from its
 * heartbeats; a stage that stops is removed when its lease lapses.
 */
class ControlPlaneRegistrationTest {
  private static SpringServices.Running plane(int port) {
    ServeControlPlaneCommand c = new ServeControlPlaneCommand();
    new CommandLine(c)
        .parseArgs(
            "--port",
            String.valueOf(port),
            "--host",
            "127.0.0.1",
            "--heartbeat",
            "200ms",
            "--lease",
            "1s");
    return SpringServices.start(c.spec());
  }

  private static List<Instance> instances(String plane) {
    ManagedChannel ch = StageChannels.plaintext().open(plane, StageChannels.Kind.CALLS);
    try {
      return ControlPlaneGrpc.newBlockingStub(ch)
          .withDeadlineAfter(5, TimeUnit.SECONDS)
          .getTopology(GetTopologyRequest.getDefaultInstance())
          .getInstancesList();
    } finally {
      ch.shutdownNow();
    }
  }

  private static void await(String plane, Predicate<List<Instance>> done, String what)
      throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    List<Instance> last = instances(plane);
    while (!done.test(last) && System.nanoTime() < deadline) {
      Thread.sleep(50);
      last = instances(plane);
    }
    assertThat(done.test(last)).as("%s; topology %s", what, last).isTrue();
  }

  @Test
  void aStageKeepsItsLeaseOutlivesAPlaneRestartAndLapsesWhenItStops() throws Exception {
    SpringServices.Running first = plane(0);
    int planePort = first.grpcPort();
    String plane = "127.0.0.1:" + planePort;
    ServeKvCacheCommand kv = new ServeKvCacheCommand();
    new CommandLine(kv).parseArgs("--port", "0", "--host", "127.0.0.1", "--control-plane", plane);
    SpringServices.Running k = SpringServices.start(kv.spec());
    String address = "127.0.0.1:" + k.grpcPort();
    Predicate<List<Instance>> kvThere =
        l ->
            l.stream()
                .anyMatch(i -> i.getRole() == Role.ROLE_KV_CACHE && i.getAddress().equals(address));
    try {
      await(plane, kvThere, "kv-cache-service registered");
      first.close();
      ManagedChannel ch = StageChannels.plaintext().open(address, StageChannels.Kind.CALLS);
      try {
        assertThat(
                KvCacheServiceGrpc.newBlockingStub(ch)
                    .withDeadlineAfter(5, TimeUnit.SECONDS)
                    .getStats(GetStatsRequest.getDefaultInstance())
                    .getCapacityBytes())
            .as("kv-cache-service serving while the plane is down")
            .isPositive();
      } finally {
        ch.shutdownNow();
      }
      try (SpringServices.Running again = plane(planePort)) {
        await(plane, kvThere, "kv-cache-service registered again with the restarted plane");
        k.close();
        await(plane, List::isEmpty, "kv-cache-service removed once its lease lapsed");
      }
    } finally {
      k.close();
    }
  }

  @Test
  void aStageBehindAProxyRegistersTheAddressItAdvertises() throws Exception {
    try (SpringServices.Running p = plane(0)) {
      String plane = "127.0.0.1:" + p.grpcPort();
      ServeKvCacheCommand kv = new ServeKvCacheCommand();
      new CommandLine(kv)
          .parseArgs(
              "--port",
              "0",
              "--host",
              "127.0.0.1",
              "--control-plane",
              plane,
              "--advertised-host",
              "kv.example",
              "--advertised-port",
              "6001");
      try (SpringServices.Running k = SpringServices.start(kv.spec())) {
        await(
            plane,
            l -> l.stream().anyMatch(i -> i.getAddress().equals("kv.example:6001")),
            "kv-cache-service registered as kv.example:6001, not its own port " + k.grpcPort());
      }
    }
  }
}
