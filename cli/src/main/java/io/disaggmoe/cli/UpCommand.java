package io.disaggmoe.cli;

import io.disaggmoe.model.gen.CheckpointGenerator;
import io.disaggmoe.model.gen.Preset;
import io.disaggmoe.model.text.TextTokenizer;
import io.disaggmoe.model.text.TokenizerFiles;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import tools.jackson.databind.SerializationFeature;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code disaggmoe up}: the main job. Serves a checkpoint (by default the embedded {@code tiny}
 * model, generated once under {@code models/tiny}) as the whole suite of services behind the
 * OpenAI-compatible gateway, until Ctrl-C or SIGTERM.
 */
@Command(
    name = "up",
    mixinStandardHelpOptions = true,
    description =
        "Start every service (kv-cache, expert pools, prefill, decode, gateway) and serve the"
            + " OpenAI API until stopped.")
final class UpCommand implements Callable<Integer> {
  @Option(
      names = "--model",
      description = "checkpoint directory (default: the embedded tiny model)")
  Path model;

  @Option(names = "--port", defaultValue = "8080", description = "gateway HTTP port, 0 for any")
  int port;

  @Option(
      names = "--host",
      defaultValue = "127.0.0.1",
      description = "gateway address to bind (default ${DEFAULT-VALUE})")
  String host;

  @Option(names = "--prefill", defaultValue = "1", description = "prefill instances (default 1)")
  int prefill;

  @Option(names = "--decode", defaultValue = "1", description = "decode instances (default 1)")
  int decode;

  @Option(
      names = "--expert-pools",
      defaultValue = "2",
      description = "expert pools (default 2; 0 keeps the routed experts in attention)")
  int expertPools;

  @Option(names = "--processes", description = "one process per service instead of one JVM")
  boolean processes;

  @Option(
      names = "--tls",
      description =
          "mutual TLS 1.3 between stages, with a CA and certificates made for this run (the"
              + " gateway's own HTTP and gRPC ports stay plaintext)")
  boolean tls;

  @Option(names = "--api-keys", description = "API keys file (none: the gateway is open)")
  Path apiKeys;

  @Mixin GatewayServingOptions gateway = new GatewayServingOptions();

  @Option(
      names = "--warmup",
      defaultValue = "0s",
      description =
          "each prefill and decode instance runs synthetic requests for this long before serving"
              + " (serve attention --warmup; default ${DEFAULT-VALUE}: none)")
  String warmup;

  @Option(
      names = "--state",
      description = "state file naming every service (default .disaggmoe/up.json)")
  Path state;

  @Override
  public Integer call() throws Exception {
    if (prefill < 0 || decode < 1 || expertPools < 0) {
      throw new IllegalArgumentException(
          "--decode must be >= 1, --prefill and --expert-pools >= 0");
    }
    Duration warm = ServeAttentionCommand.warmupDuration(warmup);
    Path dir = modelOrDefault(model);
    Path stateFile = state != null ? state : Path.of(".disaggmoe", "up.json");
    long start = System.nanoTime();
    System.out.printf(
        Locale.ROOT,
        "starting the control plane, kv-cache-service, %d expert pools, %d prefill, %d decode and the"
            + " gateway (%s%s)%n",
        expertPools,
        prefill,
        decode,
        processes ? "one process each" : "one JVM",
        tls ? ", mutual TLS between stages" : "");
    LocalSuite suite =
        LocalSuite.start(
            LocalSuite.Options.of(dir)
                .stages(prefill, decode, expertPools)
                .gateways(host, port, 1)
                .apiKeys(apiKeys)
                .processes(processes)
                .tls(tls)
                .warmup(warm)
                .gatewayArgs(gateway.args())
                .build());
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  System.out.println("stopping every service");
                  suite.close();
                  try {
                    Files.deleteIfExists(stateFile);
                  } catch (Exception e) {
                    System.err.println("could not remove " + stateFile + ": " + e.getMessage());
                  }
                  stopped.countDown();
                }));
    awaitHealthy(suite.gatewayUrl(), Duration.ofMinutes(3));
    writeState(stateFile, suite);
    String model = gateway.servedModelName != null ? gateway.servedModelName : modelId(dir);
    System.out.printf(
        Locale.ROOT,
        "DisaggMoE is serving %s at %s (ready in %.1f s; state in %s)%n",
        model,
        suite.gatewayUrl(),
        (System.nanoTime() - start) / 1e9,
        stateFile);
    System.out.printf(
        "try:%n  curl -N %s/v1/chat/completions -H 'Content-Type: application/json' \\%n"
            + "    -d '{\"model\": \"%s\", \"stream\": true, \"max_tokens\": 32,"
            + " \"messages\": [{\"role\": \"user\", \"content\": \"Hello!\"}]}'%n"
            + "or: ./disaggmoe chat --url %s%n"
            + "topology: ./disaggmoe status --url %s%n"
            + "Ctrl-C stops every service.%n",
        suite.gatewayUrl(), model, suite.gatewayUrl(), suite.controlPlane());
    System.out.flush();
    stopped.await();
    return 0;
  }

  private static String modelId(Path dir) {
    return dir.toAbsolutePath().normalize().getFileName().toString();
  }

  /** Polls the gateway's {@code /health} until every stage answers. */
  static void awaitHealthy(String url, Duration limit) throws InterruptedException {
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    long deadline = System.nanoTime() + limit.toNanos();
    String last = "no answer";
    while (System.nanoTime() < deadline) {
      try {
        HttpResponse<String> r =
            http.send(
                HttpRequest.newBuilder(URI.create(url + "/health"))
                    .timeout(Duration.ofSeconds(2))
                    .build(),
                HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() == 200) {
          return;
        }
        last = r.body();
      } catch (java.io.IOException e) {
        last = e.toString();
      }
      Thread.sleep(200);
    }
    throw new IllegalStateException(
        "the suite did not become healthy within " + limit + ": " + last);
  }

  private static void writeState(Path file, LocalSuite suite) throws java.io.IOException {
    Map<String, Object> root = new LinkedHashMap<>();
    root.put("gateway_url", suite.gatewayUrl());
    root.put("generate_service", suite.generateService());
    root.put("control_plane", suite.controlPlane());
    root.put(
        "services",
        suite.services().stream()
            .map(
                s -> {
                  Map<String, Object> m = new LinkedHashMap<>();
                  m.put("role", s.role());
                  m.put("address", s.address());
                  m.put("pid", s.pid());
                  m.put("metrics", s.metrics());
                  return m;
                })
            .toList());
    Path parent = file.toAbsolutePath().getParent();
    Files.createDirectories(parent);
    Path tmp = Files.createTempFile(parent, "up", ".json");
    JsonMapper.builder()
        .enable(SerializationFeature.INDENT_OUTPUT)
        .build()
        .writeValue(tmp.toFile(), root);
    Files.move(
        tmp,
        file,
        java.nio.file.StandardCopyOption.REPLACE_EXISTING,
        java.nio.file.StandardCopyOption.ATOMIC_MOVE);
  }

  /** {@code model}, or the embedded default model, generated on first use. */
  static Path modelOrDefault(Path model) throws java.io.IOException {
    if (model != null) {
      return model;
    }
    Path dir = defaultModelDir();
    if (!Files.isRegularFile(dir.resolve("config.json"))) {
      System.out.println("generating the embedded default model (preset tiny, seed 0) in " + dir);
      CheckpointGenerator.generate(Preset.TINY.config(), 0, Preset.TINY.shards(), dir);
    } else if (!Files.isRegularFile(dir.resolve(TextTokenizer.FILE_NAME))) {
      TokenizerFiles.copyDeepSeekV3(dir);
    }
    return dir;
  }

  static Path defaultModelDir() {
    String home = System.getProperty("disaggmoe.home", ".");
    return Path.of(home, "models", "tiny");
  }
}
