package io.disaggmoe.cli;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code disaggmoe chaos}: the chaos suite on this machine. Starts the suite as processes (one
 * prefill, two decode instances, two expert pools), takes an undisturbed greedy run of every
 * prompt, then per scenario sends Poisson load through the gateway, injects the fault, waits for
 * every request to end, compares each answer token by token, and starts the killed service again.
 */
@Command(
    name = "chaos",
    mixinStandardHelpOptions = true,
    description =
        "Inject faults into a suite under load and report requests completed and failed, tokens"
            + " lost or repeated, wrong outputs and recovery times.")
final class ChaosCommand implements Callable<Integer> {
  @Option(
      names = "--scenario",
      required = true,
      description =
          "kill-decode, kill-prefill, kill-pool, kill-kv-cache, kill-control-plane, kill-gateway,"
              + " rolling-restart, or all")
  String scenario;

  @Option(
      names = "--model",
      description = "checkpoint directory (default: the embedded tiny model)")
  Path model;

  @Option(names = "--rate", defaultValue = "1", description = "requests per second (default 1)")
  double rate;

  @Option(
      names = "--seconds",
      defaultValue = "15",
      description = "load per scenario, in seconds (default 15)")
  double seconds;

  @Option(
      names = "--fault-after",
      defaultValue = "5",
      description = "seconds into the load when the fault comes (default 5)")
  double faultAfter;

  @Option(names = "--tokens", defaultValue = "24", description = "tokens per answer (default 24)")
  int tokens;

  @Option(names = "--prompts", defaultValue = "8", description = "distinct prompts (default 8)")
  int prompts;

  @Option(
      names = "--json",
      description =
          "print {\\\"scenarios\\\": [{\\\"scenario\\\", \\\"fault\\\", \\\"requests\\\","
              + " \\\"completed\\\", \\\"failed\\\", \\\"tokens_lost\\\", \\\"tokens_repeated\\\","
              + " \\\"wrong_outputs\\\", \\\"served_again_ms\\\", \\\"recovery_ms\\\", \\\"e2e_p50_ms_before\\\","
              + " \\\"client_retries\\\", \\\"latency\\\": {\\\"before\\\"|\\\"during\\\"|\\\"after\\\":"
              + " {\\\"requests\\\", \\\"ttft_p50_ms\\\", \\\"ttft_p99_ms\\\", \\\"e2e_p50_ms\\\","
              + " \\\"e2e_p99_ms\\\"}}}]}")
  boolean json;

  /** The order a rollout would take: what others depend on first, the gateways last. */
  private static final List<String> ROLLOUT_ORDER =
      List.of("control-plane", "kv-cache", "expert", "prefill", "decode", "gateway");

  /**
   * Stops every service gracefully and starts it again on its port, one at a time in {@link
   * #ROLLOUT_ORDER}, each once the suite is healthy and settled again.
   */
  private static void rollingRestart(LocalSuite suite) {
    try {
      for (String role : ROLLOUT_ORDER) {
        List<String> addresses =
            suite.services().stream()
                .filter(x -> x.role().equals(role))
                .map(LocalSuite.Service::address)
                .toList();
        for (String address : addresses) {
          suite.stop(address);
          suite.restart(address);
          awaitSettled(suite);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted during the rolling restart", e);
    }
  }

  /** SIGKILL of the service at {@code address}, as a crash. */
  private static void kill(LocalSuite suite, String address) {
    try {
      suite.kill(address);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Every gateway healthy, then {@link #SETTLE} for leases and routing. */
  private static void awaitSettled(LocalSuite suite) throws IOException, InterruptedException {
    for (String url : suite.gatewayUrls()) {
      UpCommand.awaitHealthy(url, Duration.ofMinutes(3));
    }
    Thread.sleep(SETTLE.toMillis());
  }

  /** Long enough for the plane to drop a dead instance (its lease) and for routing to settle. */
  private static final Duration SETTLE = Duration.ofSeconds(7);

  @Override
  public Integer call() throws Exception {
    List<ChaosScenario> scenarios = ChaosScenario.parse(scenario);
    Path dir = UpCommand.modelOrDefault(model);
    List<ChaosResult> results = new ArrayList<>();
    try (LocalSuite suite =
        LocalSuite.start(
            new LocalSuite.Options(dir, 1, 2, 2, "127.0.0.1", 0, null, true, false, 2))) {
      for (String url : suite.gatewayUrls()) {
        UpCommand.awaitHealthy(url, Duration.ofMinutes(3));
      }
      ChaosLoad load =
          new ChaosLoad(
              suite.gatewayUrls(), GatewayLoadSender.firstModel(suite.gatewayUrl(), null), tokens);
      List<List<String>> reference = new ArrayList<>();
      for (int p = 0; p < prompts; p++) {
        ChaosLoad.Sent r = load.send(p);
        if (r.error() != null) {
          throw new IllegalStateException("the undisturbed run failed: " + r.error());
        }
        reference.add(r.tokens());
      }
      for (ChaosScenario s : scenarios) {
        // A kill's victim is restarted after the load; the rolling restart (no role) restarts all.
        String victim =
            s.role == null
                ? null
                : suite.services().stream()
                    .filter(x -> x.role().equals(s.role))
                    .findFirst()
                    .orElseThrow()
                    .address();
        Runnable fault = victim == null ? () -> rollingRestart(suite) : () -> kill(suite, victim);
        long[] faultNanos = {0, 0};
        List<ChaosLoad.Sent> sent =
            load.run(
                prompts,
                rate,
                seconds,
                faultAfter,
                () -> {
                  faultNanos[0] = System.nanoTime();
                  fault.run();
                  faultNanos[1] = System.nanoTime();
                });
        results.add(ChaosResult.of(s, sent, reference, faultNanos[0], faultNanos[1]));
        if (victim != null) {
          suite.restart(victim);
          awaitSettled(suite);
        }
      }
    }
    if (json) {
      Map<String, Object> out = new LinkedHashMap<>();
      out.put("scenarios", results.stream().map(ChaosResult::json).toList());
      System.out.println(JsonMapper.shared().writeValueAsString(out));
    } else {
      System.out.printf(
          Locale.ROOT,
          "%-20s %9s %10s %7s %12s %16s %14s %15s %12s %12s %15s%n",
          "scenario",
          "requests",
          "completed",
          "failed",
          "tokens lost",
          "tokens repeated",
          "wrong outputs",
          "served again ms",
          "recovery ms",
          "p50 before",
          "client retries");
      for (ChaosResult r : results) {
        System.out.printf(
            Locale.ROOT,
            "%-20s %9d %10d %7d %12d %16d %14d %15d %12d %12d %15d%n",
            r.scenario(),
            r.requests(),
            r.completed(),
            r.failed(),
            r.tokensLost(),
            r.tokensRepeated(),
            r.wrongOutputs(),
            r.servedAgainMs(),
            r.recoveryMs(),
            r.e2eP50MsBefore(),
            r.clientRetries());
      }
      System.out.printf(
          Locale.ROOT,
          "%n%-20s %-7s %9s %14s %14s %13s %13s%n",
          "scenario",
          "window",
          "requests",
          "ttft p50 ms",
          "ttft p99 ms",
          "e2e p50 ms",
          "e2e p99 ms");
      for (ChaosResult r : results) {
        for (Map.Entry<String, ChaosResult.Latency> w :
            List.of(
                Map.entry("before", r.before()),
                Map.entry("during", r.during()),
                Map.entry("after", r.after()))) {
          ChaosResult.Latency l = w.getValue();
          System.out.printf(
              Locale.ROOT,
              "%-20s %-7s %9d %14d %14d %13d %13d%n",
              r.scenario(),
              w.getKey(),
              l.requests(),
              l.ttftP50Ms(),
              l.ttftP99Ms(),
              l.e2eP50Ms(),
              l.e2eP99Ms());
        }
      }
    }
    return results.stream().allMatch(r -> r.failed() == 0 && r.wrongOutputs() == 0) ? 0 : 1;
  }
}
