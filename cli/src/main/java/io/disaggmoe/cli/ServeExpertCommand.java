package io.disaggmoe.cli;

import io.disaggmoe.expert.ExpertServiceApplication;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.springframework.util.unit.DataSize;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code disaggmoe serve expert}: one expert pool. */
@Command(
    name = "expert",
    mixinStandardHelpOptions = true,
    description = "Serve pool I of N of the routed experts over gRPC.")
final class ServeExpertCommand implements ServeSubcommand {
  @Mixin MetricsPortOption metrics = new MetricsPortOption();
  @Mixin TlsOptions tls = new TlsOptions();
  @Mixin ControlPlaneOption controlPlane = new ControlPlaneOption();

  @Option(names = "--model", required = true, description = "checkpoint directory")
  Path model;

  @Option(
      names = "--pool",
      defaultValue = "0/1",
      description = "this pool's share, I/N (default ${DEFAULT-VALUE})")
  String pool;

  @Option(
      names = "--port",
      defaultValue = "50061",
      description = "gRPC port, 0 for any (default ${DEFAULT-VALUE})")
  int port;

  @Option(
      names = "--host",
      defaultValue = "0.0.0.0",
      description = "address to bind (default ${DEFAULT-VALUE})")
  String host;

  @Option(
      names = "--replicas",
      split = ",",
      description = "extra expert ids to hold, also held by other pools")
  List<Integer> replicas = new ArrayList<>();

  @Option(
      names = "--compute-nice",
      defaultValue = "0",
      description =
          "run expert passes this much lower in CPU priority than the process (0..19; default"
              + " ${DEFAULT-VALUE}), for pools that share cores with attention processes")
  int computeNice;

  @Option(
      names = "--max-queued",
      description =
          "memory that accepted, unfinished dispatches may hold, e.g. 512MB; beyond it dispatches"
              + " get RESOURCE_EXHAUSTED (default half the heap)")
  String maxQueued;

  @Option(
      names = "--max-dispatch-tokens",
      defaultValue = "16384",
      description =
          "the most tokens one dispatch may carry; the inbound message limit is the size of such a"
              + " dispatch for this model (default ${DEFAULT-VALUE})")
  int maxDispatchTokens;

  @Override
  public ServiceSpec spec() {
    Map<String, String> p = ServeSubcommand.grpcServer(port, host);
    metrics.addTo(p);
    tls.addTo(p, true);
    controlPlane.addTo(p);
    p.put("disaggmoe.expert.model", model.toAbsolutePath().toString());
    p.put("disaggmoe.expert.pool", pool);
    p.put("disaggmoe.expert.compute-nice", String.valueOf(computeNice));
    p.put("disaggmoe.expert.max-dispatch-tokens", String.valueOf(maxDispatchTokens));
    if (maxQueued != null) {
      p.put("disaggmoe.expert.max-queued", String.valueOf(parseSize(maxQueued).toBytes()));
    }
    if (!replicas.isEmpty()) {
      p.put(
          "disaggmoe.expert.replicas",
          replicas.stream().map(String::valueOf).collect(Collectors.joining(",")));
    }
    return new ServiceSpec(ExpertServiceApplication.class, ExpertServiceApplication.CONFIG_NAME, p);
  }

  private static DataSize parseSize(String size) {
    try {
      DataSize parsed = DataSize.parse(size);
      if (parsed.toBytes() >= 1) {
        return parsed;
      }
    } catch (IllegalArgumentException e) {
      // Said below.
    }
    throw new IllegalArgumentException(
        "--max-queued: '" + size + "' is not a positive size such as 512MB or 2GB");
  }
}
