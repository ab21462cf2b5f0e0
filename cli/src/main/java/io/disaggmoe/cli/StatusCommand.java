package io.disaggmoe.cli;

import io.disaggmoe.orchestration.scaling.ScalingMetrics;
import io.disaggmoe.proto.v1.ControlPlaneGrpc;
import io.disaggmoe.proto.v1.GetScalingSignalsRequest;
import io.disaggmoe.proto.v1.GetTopologyRequest;
import io.disaggmoe.proto.v1.Instance;
import io.disaggmoe.proto.v1.LayerExperts;
import io.disaggmoe.proto.v1.ScalingSignals;
import io.disaggmoe.proto.v1.StageSignal;
import io.disaggmoe.proto.v1.Topology;
import io.disaggmoe.proto.wire.StageChannels;
import io.grpc.ManagedChannel;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code disaggmoe status}: the topology and placement the control plane holds. */
@Command(
    name = "status",
    mixinStandardHelpOptions = true,
    description =
        "Print the instances registered with a control plane, pools' placements, and the"
            + " scaling signals.")
final class StatusCommand implements Callable<Integer> {
  @Option(names = "--url", required = true, description = "the control plane's HOST:PORT")
  String url;

  @Override
  public Integer call() {
    ManagedChannel channel = StageChannels.plaintext().open(url, StageChannels.Kind.CALLS);
    try {
      Topology t =
          ControlPlaneGrpc.newBlockingStub(channel)
              .withDeadlineAfter(10, TimeUnit.SECONDS)
              .getTopology(GetTopologyRequest.getDefaultInstance());
      System.out.println(describe(t));
      System.out.println(
          describe(
              ControlPlaneGrpc.newBlockingStub(channel)
                  .withDeadlineAfter(10, TimeUnit.SECONDS)
                  .getScalingSignals(GetScalingSignalsRequest.getDefaultInstance())));
      return 0;
    } finally {
      channel.shutdownNow();
    }
  }

  /** One line per instance, by role; a pool's line names the experts it holds. */
  static String describe(Topology t) {
    StringBuilder out =
        new StringBuilder(
            String.format(
                Locale.ROOT,
                "topology version %d, %d instances%n",
                t.getVersion(),
                t.getInstancesCount()));
    t.getInstancesList().stream()
        .sorted(
            java.util.Comparator.comparing((Instance i) -> i.getRole().getNumber())
                .thenComparing(Instance::getAddress))
        .forEach(
            i -> {
              out.append(
                  String.format(
                      Locale.ROOT,
                      "  %-13s %-22s",
                      i.getRole().name().replace("ROLE_", "").toLowerCase(Locale.ROOT),
                      i.getAddress()));
              if (!i.getModelId().isEmpty()) {
                out.append(" model ").append(i.getModelId());
              }
              if (i.getCapacityBytes() > 0) {
                out.append(" capacity ").append(i.getCapacityBytes()).append(" bytes");
              }
              if (i.hasPlacement()) {
                out.append(" experts ").append(joined(i.getPlacement().getExpertsList()));
                if (i.getPlacement().getVersion() > 0) {
                  out.append(" (placement ").append(i.getPlacement().getVersion()).append(")");
                }
              }
              out.append(System.lineSeparator());
              if (i.hasPlacement() && i.getPlacement().getVersion() > 0) {
                for (LayerExperts l : i.getPlacement().getLayersList()) {
                  out.append(
                      String.format(
                          Locale.ROOT,
                          "      layer %d: %s%n",
                          l.getLayer(),
                          joined(l.getExpertsList())));
                }
              }
            });
    return out.toString().stripTrailing();
  }

  private static String joined(java.util.List<Integer> experts) {
    return experts.stream().map(String::valueOf).collect(Collectors.joining(","));
  }

  /** Per stage: replicas, desired replicas and the inputs behind them. */
  static String describe(ScalingSignals s) {
    StringBuilder out = new StringBuilder("scaling signals:" + System.lineSeparator());
    for (StageSignal st : s.getStagesList()) {
      out.append(
          String.format(
              Locale.ROOT,
              "  %-13s replicas %d desired %d (queued %d tokens, %d requests; running %d; kv used"
                  + " %.2f; p90 latency %.1f ms of %.0f)%n",
              ScalingMetrics.stage(st.getRole()),
              st.getReplicas(),
              st.getDesiredReplicas(),
              st.getQueuedTokens(),
              st.getQueuedRequests(),
              st.getRunningRequests(),
              st.getKvUsedFraction(),
              st.getLatencyP90Ms(),
              st.getLatencyTargetMs()));
    }
    out.append(String.format(Locale.ROOT, "  prefill:decode %.2f", s.getPrefillToDecode()));
    return out.toString();
  }
}
