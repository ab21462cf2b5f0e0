package io.disaggmoe.cli;

import io.disaggmoe.orchestration.ControlPlaneApplication;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code disaggmoe serve control-plane}: the registry every stage keeps a lease with. */
@Command(
    name = "control-plane",
    mixinStandardHelpOptions = true,
    description =
        "Serve the control plane: instances register, keep leases and are watched; expert"
            + " placement is rebalanced live and re-placed when a pool dies; scaling signals.")
final class ServeControlPlaneCommand implements ServeSubcommand {
  @Mixin MetricsPortOption metrics = new MetricsPortOption();
  @Mixin TlsOptions tls = new TlsOptions();

  @Option(
      names = "--port",
      defaultValue = "50060",
      description = "gRPC port, 0 for any (default ${DEFAULT-VALUE})")
  int port;

  @Option(
      names = "--host",
      defaultValue = "0.0.0.0",
      description = "address to bind (default ${DEFAULT-VALUE})")
  String host;

  @Option(
      names = "--heartbeat",
      defaultValue = "1s",
      description = "how often instances send heartbeats (default ${DEFAULT-VALUE})")
  String heartbeat;

  @Option(
      names = "--lease",
      defaultValue = "5s",
      description =
          "how long an instance without a heartbeat stays registered (default ${DEFAULT-VALUE})")
  String lease;

  @Option(
      names = "--rebalance-every",
      defaultValue = "60s",
      description =
          "how often the plane looks at the expert load and rebalances when it is uneven; 0: only"
              + " when asked (disaggmoe rebalance) (default ${DEFAULT-VALUE})")
  String rebalanceEvery;

  @Option(
      names = "--rebalance-threshold",
      defaultValue = "1.25",
      description =
          "rebalance when the heaviest pool carries this many times the mean pool's tokens"
              + " (default ${DEFAULT-VALUE})")
  double rebalanceThreshold;

  @Option(
      names = "--spare-slots",
      defaultValue = "1",
      description =
          "expert slots per pool beyond its share of the experts, for copies of hot experts"
              + " (default ${DEFAULT-VALUE})")
  int spareSlots;

  @Override
  public ServiceSpec spec() {
    Map<String, String> p = ServeSubcommand.grpcServer(port, host);
    metrics.addTo(p);
    tls.addTo(p, true);
    p.put("disaggmoe.control-plane.heartbeat", heartbeat);
    p.put("disaggmoe.control-plane.lease", lease);
    p.put("disaggmoe.control-plane.rebalance-every", rebalanceEvery);
    p.put("disaggmoe.control-plane.rebalance-threshold", String.valueOf(rebalanceThreshold));
    p.put("disaggmoe.control-plane.spare-slots", String.valueOf(spareSlots));
    return new ServiceSpec(ControlPlaneApplication.class, ControlPlaneApplication.CONFIG_NAME, p);
  }
}
