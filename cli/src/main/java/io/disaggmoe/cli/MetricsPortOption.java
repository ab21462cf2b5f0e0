package io.disaggmoe.cli;

import io.disaggmoe.proto.telemetry.StageMetrics;
import java.util.Map;
import picocli.CommandLine.Option;

/** {@code --metrics-port}: where a gRPC stage serves its Prometheus metrics. */
final class MetricsPortOption {
  @Option(
      names = "--metrics-port",
      defaultValue = "-1",
      description = "HTTP port of GET /metrics (Prometheus), 0 for any (default: none)")
  int port;

  void addTo(Map<String, String> properties) {
    properties.put(StageMetrics.PORT_PROPERTY, String.valueOf(port));
  }
}
