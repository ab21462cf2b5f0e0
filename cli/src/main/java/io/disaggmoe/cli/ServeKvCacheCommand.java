package io.disaggmoe.cli;

import io.disaggmoe.kvcache.KvCacheServiceApplication;
import java.nio.file.Path;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code disaggmoe serve kv-cache}: the latent cache block store between prefill and decode. */
@Command(
    name = "kv-cache",
    mixinStandardHelpOptions = true,
    description = "Serve the MLA latent KV-cache block store over gRPC.")
final class ServeKvCacheCommand implements ServeSubcommand {
  @Mixin MetricsPortOption metrics = new MetricsPortOption();
  @Mixin TlsOptions tls = new TlsOptions();
  @Mixin ControlPlaneOption controlPlane = new ControlPlaneOption();

  @Option(
      names = "--capacity",
      defaultValue = "1GB",
      description = "memory byte budget, e.g. 512MB or 8GB (default ${DEFAULT-VALUE})")
  String capacity;

  @Option(
      names = "--disk",
      description =
          "directory of the disk tier: blocks leaving memory spill there, and survive restarts")
  Path disk;

  @Option(
      names = "--disk-capacity",
      defaultValue = "10GB",
      description = "with --disk: the disk tier's byte budget (default ${DEFAULT-VALUE})")
  String diskCapacity;

  @Option(
      names = "--block-tokens",
      defaultValue = "64",
      description = "tokens per block (default ${DEFAULT-VALUE})")
  int blockTokens;

  @Option(
      names = "--port",
      defaultValue = "50071",
      description = "gRPC port, 0 for any (default ${DEFAULT-VALUE})")
  int port;

  @Option(
      names = "--bulk-port",
      defaultValue = "0",
      description =
          "port of the bulk block channel (plain TCP beside gRPC, named to clients over gRPC);"
              + " 0 for any, -1 for none (default ${DEFAULT-VALUE})")
  int bulkPort;

  @Option(
      names = "--host",
      defaultValue = "0.0.0.0",
      description = "address to bind (default ${DEFAULT-VALUE})")
  String host;

  @Override
  public ServiceSpec spec() {
    Map<String, String> p = ServeSubcommand.grpcServer(port, host);
    metrics.addTo(p);
    tls.addTo(p, true);
    controlPlane.addTo(p);
    p.put("disaggmoe.kv-cache.capacity", capacity);
    p.put("disaggmoe.kv-cache.block-tokens", String.valueOf(blockTokens));
    p.put("disaggmoe.kv-cache.bulk-port", String.valueOf(bulkPort));
    if (disk != null) {
      p.put("disaggmoe.kv-cache.disk", disk.toAbsolutePath().toString());
      p.put("disaggmoe.kv-cache.disk-capacity", diskCapacity);
    }
    return new ServiceSpec(
        KvCacheServiceApplication.class, KvCacheServiceApplication.CONFIG_NAME, p);
  }
}
