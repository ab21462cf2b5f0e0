package io.disaggmoe.cli;

import io.disaggmoe.attention.AttentionServiceApplication;
import io.disaggmoe.attention.client.KvDtype;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.springframework.boot.convert.DurationStyle;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code disaggmoe serve attention}: an attention instance using remote expert pools. */
@Command(
    name = "attention",
    mixinStandardHelpOptions = true,
    description = "Serve attention, dense layers and LM head, with routed experts in pools.")
final class ServeAttentionCommand implements ServeSubcommand {
  @Mixin MetricsPortOption metrics = new MetricsPortOption();
  @Mixin TlsOptions tls = new TlsOptions();
  @Mixin ControlPlaneOption controlPlane = new ControlPlaneOption();

  @Option(names = "--model", required = true, description = "checkpoint directory")
  Path model;

  @Option(
      names = "--role",
      defaultValue = "decode",
      description = "prefill or decode (default ${DEFAULT-VALUE})")
  String role;

  @Option(
      names = "--kv-cache",
      required = true,
      description = "kv-cache-service address, HOST:PORT")
  String kvCache;

  @Option(
      names = "--kv-dtype",
      defaultValue = "f32",
      description =
          "dtype of the latent blocks put to kv-cache-service: f32 (exact) or bf16 (half the"
              + " bytes) (default ${DEFAULT-VALUE})")
  String kvDtype;

  @Option(
      names = "--experts",
      split = ",",
      description = "expert pool addresses, HOST:PORT,... (none: routed experts run here)")
  List<String> experts = new ArrayList<>();

  @Option(
      names = "--prefill-token-budget",
      defaultValue = "512",
      description =
          "prompt tokens per prefill forward pass, across requests (default ${DEFAULT-VALUE})")
  int prefillTokenBudget;

  @Option(
      names = "--debug-forward",
      description =
          "open the debugging Forward call (a whole greedy run holding the model; one at a time)")
  boolean debugForward;

  @Option(
      names = "--prefill-max-queued-tokens",
      defaultValue = "65536",
      description =
          "prompt tokens the prefill queue holds, computing ones included; a prompt beyond gets"
              + " RESOURCE_EXHAUSTED (default ${DEFAULT-VALUE})")
  int prefillMaxQueuedTokens;

  @Option(
      names = "--kv-budget",
      defaultValue = "2GB",
      description =
          "decode: latent cache bytes the running batch may grow to (default ${DEFAULT-VALUE})")
  String kvBudget;

  @Option(
      names = "--max-batch",
      defaultValue = "64",
      description = "decode: requests in the running batch at most (default ${DEFAULT-VALUE})")
  int maxBatch;

  @Option(names = "--port", defaultValue = "50051", description = "gRPC port, 0 for any")
  int port;

  @Option(names = "--host", defaultValue = "0.0.0.0", description = "address to bind")
  String host;

  @Option(names = "--attn", defaultValue = "absorb", description = "absorb or naive")
  String attn;

  @Option(
      names = "--overlap",
      defaultValue = "true",
      negatable = true,
      description = "two overlapping micro-batches per decode step (default on)")
  boolean overlap;

  @Option(
      names = "--warmup",
      defaultValue = "0s",
      description =
          "synthetic requests through the model and its pools for this long before serving, so"
              + " that the JIT has compiled their path (e.g. 20s; default ${DEFAULT-VALUE}: none)")
  String warmup;

  @Override
  public ServiceSpec spec() {
    if (!role.equals("prefill") && !role.equals("decode")) {
      throw new IllegalArgumentException("--role must be prefill or decode, got " + role);
    }
    Map<String, String> p = ServeSubcommand.grpcServer(port, host);
    metrics.addTo(p);
    tls.addTo(p, true);
    controlPlane.addTo(p);
    p.put("disaggmoe.attention.model", model.toAbsolutePath().toString());
    p.put("disaggmoe.attention.role", role);
    p.put("disaggmoe.attention.kv-cache", kvCache);
    p.put("disaggmoe.attention.experts", String.join(",", experts));
    p.put("disaggmoe.attention.prefill-token-budget", String.valueOf(prefillTokenBudget));
    p.put("disaggmoe.attention.prefill-max-queued-tokens", String.valueOf(prefillMaxQueuedTokens));
    p.put("disaggmoe.attention.kv-budget", kvBudget);
    p.put("disaggmoe.attention.max-batch", String.valueOf(maxBatch));
    p.put("disaggmoe.attention.attn", attn);
    p.put("disaggmoe.attention.overlap", String.valueOf(overlap));
    p.put("disaggmoe.attention.warmup", warmupDuration(warmup).toString());
    p.put("disaggmoe.attention.kv-dtype", KvDtype.parse(kvDtype).name().toLowerCase(Locale.ROOT));
    return new ServiceSpec(
        AttentionServiceApplication.class, AttentionServiceApplication.CONFIG_NAME, p);
  }

  /** {@code --warmup} as Spring reads durations ({@code 20s}, {@code 500ms}, {@code PT1M}). */
  static Duration warmupDuration(String value) {
    Duration d;
    try {
      d = DurationStyle.detectAndParse(value);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("--warmup: not a duration: " + value);
    }
    if (d.isNegative()) {
      throw new IllegalArgumentException("--warmup must not be negative, got " + value);
    }
    return d;
  }
}
