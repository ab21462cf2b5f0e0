package io.disaggmoe.cli;

import io.disaggmoe.proto.v1.ControlPlaneGrpc;
import io.disaggmoe.proto.v1.RebalanceRequest;
import io.disaggmoe.proto.v1.RebalanceResponse;
import io.disaggmoe.proto.wire.StageChannels;
import io.grpc.ManagedChannel;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import tools.jackson.databind.json.JsonMapper;

/** {@code disaggmoe rebalance}: asks the control plane to plan from the load and switch live. */
@Command(
    name = "rebalance",
    mixinStandardHelpOptions = true,
    description =
        "Ask the control plane to plan expert placement from the load pools reported and switch"
            + " to it live.")
final class RebalanceCommand implements Callable<Integer> {
  @Option(names = "--url", required = true, description = "the control plane's HOST:PORT")
  String url;

  @Option(names = "--force", description = "switch even when the pools are even enough")
  boolean force;

  @Option(
      names = "--json",
      description =
          "print {\\\"switched\\\", \\\"reason\\\", \\\"version\\\", \\\"max_over_mean_before\\\","
              + " \\\"max_over_mean_after\\\", \\\"switch_ms\\\"}")
  boolean json;

  @Override
  public Integer call() {
    ManagedChannel channel = StageChannels.plaintext().open(url, StageChannels.Kind.CALLS);
    try {
      RebalanceResponse r =
          ControlPlaneGrpc.newBlockingStub(channel)
              .withDeadlineAfter(5, TimeUnit.MINUTES)
              .rebalance(RebalanceRequest.newBuilder().setForce(force).build());
      if (json) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("switched", r.getSwitched());
        out.put("reason", r.getReason());
        out.put("version", r.getVersion());
        out.put("max_over_mean_before", r.getMaxOverMeanBefore());
        out.put("max_over_mean_after", r.getMaxOverMeanAfter());
        out.put("switch_ms", r.getSwitchMs());
        System.out.println(JsonMapper.shared().writeValueAsString(out));
      } else if (r.getSwitched()) {
        System.out.printf(
            Locale.ROOT,
            "switched to placement %d in %d ms: max/mean pool load %.3f -> %.3f%s%n",
            r.getVersion(),
            r.getSwitchMs(),
            r.getMaxOverMeanBefore(),
            r.getMaxOverMeanAfter(),
            r.getReason().isEmpty() ? "" : " (" + r.getReason() + ")");
      } else {
        System.out.printf(
            Locale.ROOT,
            "not switched: %s (max/mean pool load %.3f, planned %.3f)%n",
            r.getReason(),
            r.getMaxOverMeanBefore(),
            r.getMaxOverMeanAfter());
      }
      return 0;
    } finally {
      channel.shutdownNow();
    }
  }
}
