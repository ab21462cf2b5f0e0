package io.disaggmoe.cli;

import io.disaggmoe.gateway.GatewayApplication;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code disaggmoe serve gateway}: the OpenAI-compatible HTTP front door. */
@Command(
    name = "gateway",
    mixinStandardHelpOptions = true,
    description = "Serve the OpenAI-compatible HTTP API over prefill and decode instances.")
final class ServeGatewayCommand implements ServeSubcommand {
  @Mixin TlsOptions tls = new TlsOptions();
  @Mixin ControlPlaneOption controlPlane = new ControlPlaneOption();
  @Mixin GatewayServingOptions serving = new GatewayServingOptions();

  @Option(
      names = "--model",
      required = true,
      description = "checkpoint directory (its tokenizer and config; no weights are loaded)")
  Path model;

  @Option(names = "--prefill", split = ",", description = "prefill instances, HOST:PORT,...")
  List<String> prefill = new ArrayList<>();

  @Option(
      names = "--decode",
      split = ",",
      required = true,
      description = "decode instances, HOST:PORT,...")
  List<String> decode = new ArrayList<>();

  @Option(names = "--kv-cache", required = true, description = "kv-cache-service, HOST:PORT")
  String kvCache;

  @Option(names = "--api-keys", description = "API keys file (none: the gateway is open)")
  Path apiKeys;

  @Option(
      names = "--max-running",
      defaultValue = "256",
      description = "requests generating at once (default ${DEFAULT-VALUE})")
  int maxRunning;

  @Option(
      names = "--max-waiting",
      defaultValue = "1024",
      description = "requests queued behind them before 503s (default ${DEFAULT-VALUE})")
  int maxWaiting;

  @Option(names = "--port", defaultValue = "8080", description = "HTTP port, 0 for any")
  int port;

  @Option(names = "--host", defaultValue = "0.0.0.0", description = "address to bind")
  String host;

  @Option(
      names = "--grpc-port",
      defaultValue = "8081",
      description = "GenerateService gRPC port, 0 for any (default ${DEFAULT-VALUE})")
  int grpcPort;

  @Option(
      names = "--allowed-methods",
      split = ",",
      defaultValue = "*",
      description = "HTTP methods such pages may use (default ${DEFAULT-VALUE})")
  List<String> allowedMethods;

  @Option(
      names = "--allowed-headers",
      split = ",",
      defaultValue = "*",
      description = "request headers such pages may send (default ${DEFAULT-VALUE})")
  List<String> allowedHeaders;

  @Option(
      names = "--allow-credentials",
      description = "let such pages send cookies and HTTP authentication")
  boolean allowCredentials;

  @Override
  public ServiceSpec spec() {
    Map<String, String> p =
        properties(
            model, prefill, decode, kvCache, apiKeys, maxRunning, maxWaiting, host, port, grpcPort);
    serving.addTo(p);
    p.put("disaggmoe.gateway.allowed-methods", String.join(",", allowedMethods));
    p.put("disaggmoe.gateway.allowed-headers", String.join(",", allowedHeaders));
    p.put("disaggmoe.gateway.allow-credentials", String.valueOf(allowCredentials));
    tls.addTo(p, false);
    controlPlane.addTo(p);
    return new ServiceSpec(GatewayApplication.class, GatewayApplication.CONFIG_NAME, p);
  }

  private static Map<String, String> properties(
      Path model,
      List<String> prefill,
      List<String> decode,
      String kvCache,
      Path apiKeys,
      int maxRunning,
      int maxWaiting,
      String host,
      int port,
      int grpcPort) {
    Map<String, String> p = ServeSubcommand.grpcServer(grpcPort, host);
    p.put("spring.main.web-application-type", "reactive");
    p.put("server.port", String.valueOf(port));
    p.put("server.address", host);
    p.put("disaggmoe.gateway.model", model.toAbsolutePath().toString());
    p.put("disaggmoe.gateway.prefill", String.join(",", prefill));
    p.put("disaggmoe.gateway.decode", String.join(",", decode));
    p.put("disaggmoe.gateway.kv-cache", kvCache);
    if (apiKeys != null) {
      p.put("disaggmoe.gateway.api-keys", apiKeys.toAbsolutePath().toString());
    }
    p.put("disaggmoe.gateway.max-running", String.valueOf(maxRunning));
    p.put("disaggmoe.gateway.max-waiting", String.valueOf(maxWaiting));
    return p;
  }
}
