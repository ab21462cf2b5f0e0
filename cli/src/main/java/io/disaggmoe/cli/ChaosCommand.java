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
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code disaggmoe chaos}: the chaos suite on this machine. Starts the suite as processes (one
 * prefill, two decode instances, the first behind a {@link ChaosLink}, two expert pools and a third
 * holding the first one's experts again, two gateways), takes an undisturbed greedy run of every
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
          "kill-decode, kill-prefill, kill-pool, kill-pool-replica, kill-kv-cache,"
              + " kill-control-plane, kill-gateway, link-delay, link-freeze, link-cut,"
              + " rolling-restart, or all")
  String scenario;

  @Option(
      names = "--model",
      description = "checkpoint directory (default: the embedded tiny model)")
  Path model;

  @Option(
      names = "--url",
      split = ",",
      description =
          "attach to these gateways (URL[,URL...]) of a suite already running instead of starting"
              + " one; the fault is injected from outside (k8s/chaos) --fault-after seconds into"
              + " the load, which starts with the command, and lasts --fault-seconds; the"
              + " undisturbed run comes after the load")
  List<String> urls;

  @Option(
      names = "--fault-seconds",
      defaultValue = "0",
      description = "with --url: how long the outside fault lasts (default 0: a kill)")
  double faultSeconds;

  @Option(
      names = "--api-key",
      description = "with --url: the gateway's API key (default: $OPENAI_API_KEY)")
  String apiKey;

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
      names = "--bench-serve",
      description =
          "also run `bench serve` as its own process against the last gateway during each"
              + " scenario (as many requests at --rate, 32 prompt and --tokens output tokens each)"
              + " and report its latencies before, during and after the fault")
  boolean benchServe;

  @Option(
      names = "--json",
      description =
          "print {\\\"scenarios\\\": [{\\\"scenario\\\", \\\"fault\\\", \\\"requests\\\","
              + " \\\"completed\\\", \\\"failed\\\", \\\"tokens_lost\\\", \\\"tokens_repeated\\\","
              + " \\\"wrong_outputs\\\", \\\"served_again_ms\\\", \\\"recovery_ms\\\", \\\"e2e_p50_ms_before\\\","
              + " \\\"client_retries\\\", \\\"latency\\\": {\\\"before\\\"|\\\"during\\\"|\\\"after\\\":"
              + " {\\\"requests\\\", \\\"ttft_p50_ms\\\", \\\"ttft_p99_ms\\\", \\\"tpot_p50_ms\\\","
              + " \\\"tpot_p99_ms\\\", \\\"itl_p50_ms\\\", \\\"itl_p99_ms\\\", \\\"e2e_p50_ms\\\","
              + " \\\"e2e_p99_ms\\\"}}, \\\"failures\\\": [...], with --bench-serve"
              + " \\\"bench_serve\\\": {\\\"requests\\\", \\\"failed\\\","
              + " \\\"before\\\"|\\\"during\\\"|\\\"after\\\": {...}}}]}")
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

  private static final Duration LINK_FAULT = Duration.ofSeconds(8);

  /** Longer than a ping's wait and its timeout (StageChannels), so that callers must notice. */
  private static final Duration FREEZE_LASTS = Duration.ofSeconds(20);

  private static final Duration DELAY_EACH_WAY = Duration.ofMillis(100);
  private static final Duration DELAY_JITTER = Duration.ofMillis(10);

  /** A fault: calls {@code begun} the moment it takes effect, and returns once it has ended. */
  @FunctionalInterface
  private interface Injector {
    void inject(Runnable begun);
  }

  /**
   * Once the link carries a stream (or after {@link #LINK_FAULT} without one), gives it {@code
   * fault} for {@link #LINK_FAULT} ({@link #FREEZE_LASTS} for a freeze), then restores it.
   */
  private static void disturb(ChaosLink link, ChaosScenario.Fault fault, Runnable begun) {
    try {
      link.awaitTraffic(LINK_FAULT);
      begun.run();
      switch (fault) {
        case LINK_DELAY -> link.delay(DELAY_EACH_WAY, DELAY_JITTER);
        case LINK_FREEZE -> link.freeze();
        case LINK_CUT -> link.cut();
        default -> throw new IllegalArgumentException(fault + " is not a link fault");
      }
      Thread.sleep(fault == ChaosScenario.Fault.LINK_FREEZE ? FREEZE_LASTS : LINK_FAULT);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      link.restore();
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

  /** Starts the suite, then runs each scenario against it, restarting what a kill took. */
  private List<ChaosResult> local(List<ChaosScenario> scenarios) throws Exception {
    Path dir = UpCommand.modelOrDefault(model);
    List<ChaosResult> results = new ArrayList<>();
    try (LocalSuite suite =
        LocalSuite.start(
            LocalSuite.Options.of(dir)
                .stages(1, 2, 2)
                .gateways("127.0.0.1", 0, 2)
                .processes(true)
                // The mirror and the link only where a scenario needs them: each costs a process.
                .mirroredPools(scenarios.contains(ChaosScenario.KILL_POOL_REPLICA) ? 1 : 0)
                .decodeLink(scenarios.stream().anyMatch(ChaosScenario::needsDecodeLink))
                .build())) {
      for (String url : suite.gatewayUrls()) {
        UpCommand.awaitHealthy(url, Duration.ofMinutes(3));
      }
      ChaosLoad load = load(suite.gatewayUrls());
      List<List<String>> reference = reference(load);
      for (ChaosScenario s : scenarios) {
        // A kill's victim is restarted after the load (for the next scenario); the rolling restart
        // restarts all.
        List<String> ofRole =
            suite.services().stream()
                .filter(x -> x.role().equals(s.role))
                .map(LocalSuite.Service::address)
                .toList();
        BusiestInstance busiest = s.killsTheBusiest() ? BusiestInstance.of(ofRole) : null;
        AtomicReference<String> victim =
            new AtomicReference<>(s.fault == ChaosScenario.Fault.KILL ? ofRole.get(s.index) : null);
        Injector fault =
            switch (s.fault) {
              case KILL ->
                  begun -> {
                    if (busiest != null) {
                      victim.set(busiest.now(victim.get()));
                    }
                    begun.run();
                    kill(suite, victim.get());
                  };
              case ROLLING_RESTART ->
                  begun -> {
                    begun.run();
                    rollingRestart(suite);
                  };
              case LINK_DELAY, LINK_FREEZE, LINK_CUT ->
                  begun -> disturb(suite.decodeLink(), s.fault, begun);
            };
        // The prefill or decode instance the fault struck, as the gateways call it.
        Supplier<String> struck =
            () ->
                s.needsDecodeLink()
                    ? "127.0.0.1:" + suite.decodeLink().port()
                    : victim.get() != null && s.strikesAttention()
                        ? suite.calledAs(victim.get())
                        : null;
        // bench serve, like vLLM's, sends to one URL: the gateway kill-gateway spares.
        try {
          results.add(run(load, suite.gatewayUrls().getLast(), s, reference, fault, struck));
        } finally {
          if (busiest != null) {
            busiest.close();
          }
        }
        // The suite stops after the last scenario: its victim would be started only to stop.
        if (victim.get() != null && s != scenarios.getLast()) {
          suite.restart(victim.get());
          awaitSettled(suite);
        }
      }
    }
    return results;
  }

  /**
   * Runs one scenario against gateways already running, whose fault something outside injects (the
   * Chaos Mesh objects of k8s/chaos): it is taken to come {@code --fault-after} seconds into the
   * load and to last {@code --fault-seconds}.
   */
  private List<ChaosResult> attached(List<ChaosScenario> scenarios) throws Exception {
    if (scenarios.size() != 1) {
      throw new IllegalArgumentException(
          "--url runs one scenario, whose fault is injected from outside; name it with --scenario");
    }
    ChaosScenario s = scenarios.getFirst();
    ChaosLoad load = load(urls);
    Injector outside =
        begun -> {
          begun.run();
          try {
            Thread.sleep((long) (faultSeconds * 1000));
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
        };
    long[] faultNanos = {0, 0};
    List<ChaosLoad.Sent> sent;
    List<RequestTiming> benchTimings;
    // The last gateway, as in the local suite.
    try (BenchServeProcess bench = startBenchServe(urls.getLast(), s)) {
      sent = sendLoad(load, outside, faultNanos);
      benchTimings = finish(bench);
    }
    // The undisturbed run comes after the load here, once the suite has recovered, so that the
    // load starts with the command and the outside schedule's fault time holds.
    List<List<String>> reference = reference(load);
    return List.of(
        ChaosResult.of(
            s.id,
            s.what + " (injected from outside)",
            sent,
            reference,
            faultNanos[0],
            faultNanos[1],
            benchTimings,
            routing(s, sent, null, faultNanos)));
  }

  /**
   * The instances of each request; with {@code struck} (the prefill or decode instance the fault
   * struck), what routing did about it: while a link fault lasted, or from a kill on (the victim is
   * started again only after the load).
   */
  private static ChaosRouting routing(
      ChaosScenario s, List<ChaosLoad.Sent> sent, String struck, long[] faultNanos) {
    return ChaosRouting.of(
        sent,
        struck,
        "prefill".equals(s.role) ? "prefill" : "decode",
        faultNanos[0],
        s.fault == ChaosScenario.Fault.KILL ? Long.MAX_VALUE : faultNanos[1]);
  }

  private String key() {
    return apiKey != null ? apiKey : System.getenv("OPENAI_API_KEY");
  }

  private ChaosLoad load(List<String> gateways) throws Exception {
    String key = key();
    return new ChaosLoad(
        gateways, CompletionStream.firstModel(gateways.getFirst(), key), key, tokens);
  }

  /** With --bench-serve, {@code bench serve} against {@code url} for the length of the load. */
  private BenchServeProcess startBenchServe(String url, ChaosScenario s) throws IOException {
    if (!benchServe) {
      return null;
    }
    int requests = (int) Math.max(1, Math.round(rate * seconds));
    return BenchServeProcess.start(url, key(), rate, requests, 32, tokens, s.ordinal());
  }

  /** What a {@code bench serve} run sent, once it has ended (null without one). */
  private static List<RequestTiming> finish(BenchServeProcess bench)
      throws IOException, InterruptedException {
    return bench == null ? null : bench.finish(BENCH_SERVE_TIMEOUT.toSeconds());
  }

  /** A bench serve run's requests end with the load's; a wedged one must not hang the suite. */
  private static final Duration BENCH_SERVE_TIMEOUT = Duration.ofMinutes(5);

  /** An undisturbed greedy run of every prompt, one at a time. */
  private List<List<String>> reference(ChaosLoad load) {
    List<List<String>> reference = new ArrayList<>();
    for (int p = 0; p < prompts; p++) {
      ChaosLoad.Sent r = load.send(p);
      if (r.error() != null) {
        throw new IllegalStateException("the undisturbed run failed: " + r.error());
      }
      reference.add(r.tokens());
    }
    return reference;
  }

  /**
   * The load with {@code fault} on its own thread (and {@code bench serve} against {@code url} with
   * --bench-serve), and what it cost against the reference.
   */
  private ChaosResult run(
      ChaosLoad load,
      String url,
      ChaosScenario s,
      List<List<String>> reference,
      Injector fault,
      Supplier<String> struck)
      throws IOException, InterruptedException {
    long[] faultNanos = {0, 0};
    // Closed (killed, if still running) however the load ends.
    try (BenchServeProcess bench = startBenchServe(url, s)) {
      List<ChaosLoad.Sent> sent = sendLoad(load, fault, faultNanos);
      return ChaosResult.of(
          s.id,
          s.what,
          sent,
          reference,
          faultNanos[0],
          faultNanos[1],
          finish(bench),
          routing(s, sent, struck.get(), faultNanos));
    }
  }

  /**
   * The load, with {@code fault} on its own thread; {@code faultNanos}: when it began and ended.
   */
  private List<ChaosLoad.Sent> sendLoad(ChaosLoad load, Injector fault, long[] faultNanos)
      throws InterruptedException {
    return load.run(
        prompts,
        rate,
        seconds,
        faultAfter,
        () -> {
          fault.inject(() -> faultNanos[0] = System.nanoTime());
          faultNanos[1] = System.nanoTime();
        });
  }

  /** What routing did about the instance each fault struck, where one was struck. */
  private static void printRouting(List<ChaosResult> results) {
    System.out.printf(
        Locale.ROOT,
        "%n%-20s %-8s %-16s %12s %16s %18s %13s%n",
        "scenario",
        "role",
        "instance",
        "sent faulty",
        "of them to it",
        "last to it ms",
        "moved off it");
    for (ChaosResult r : results) {
      ChaosRouting g = r.routing();
      if (g.instance() != null) {
        System.out.printf(
            Locale.ROOT,
            "%-20s %-8s %-16s %12d %16d %18d %13d%n",
            r.scenario(),
            g.role(),
            g.instance(),
            g.sentInWindow(),
            g.sentToIt(),
            g.lastSentToItMs(),
            g.movedOffIt());
      }
    }
  }

  @Override
  public Integer call() throws Exception {
    List<ChaosScenario> scenarios = ChaosScenario.parse(scenario);
    List<ChaosResult> results = urls == null ? local(scenarios) : attached(scenarios);
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
          "%n%-20s %-12s %9s %12s %12s %12s %12s %12s %12s %12s %12s%n",
          "scenario",
          "window",
          "requests",
          "ttft p50 ms",
          "ttft p99 ms",
          "tpot p50 ms",
          "tpot p99 ms",
          "itl p50 ms",
          "itl p99 ms",
          "e2e p50 ms",
          "e2e p99 ms");
      for (ChaosResult r : results) {
        List<Map.Entry<String, ChaosResult.Latency>> windows = new ArrayList<>();
        windows.add(Map.entry("before", r.before()));
        windows.add(Map.entry("during", r.during()));
        windows.add(Map.entry("after", r.after()));
        if (r.benchServe() != null) {
          // bench serve's own requests, beside the suite's load.
          windows.add(Map.entry("serve:before", r.benchServe().before()));
          windows.add(Map.entry("serve:during", r.benchServe().during()));
          windows.add(Map.entry("serve:after", r.benchServe().after()));
        }
        for (Map.Entry<String, ChaosResult.Latency> w : windows) {
          ChaosResult.Latency l = w.getValue();
          System.out.printf(
              Locale.ROOT,
              "%-20s %-12s %9d %12d %12d %12d %12d %12d %12d %12d %12d%n",
              r.scenario(),
              w.getKey(),
              l.requests(),
              l.ttftP50Ms(),
              l.ttftP99Ms(),
              l.tpotP50Ms(),
              l.tpotP99Ms(),
              l.itlP50Ms(),
              l.itlP99Ms(),
              l.e2eP50Ms(),
              l.e2eP99Ms());
        }
      }
      printRouting(results);
      for (ChaosResult r : results) {
        for (String f : r.failures()) {
          System.out.printf(Locale.ROOT, "%nfailed in %s: %s", r.scenario(), f);
        }
        if (r.benchServe() != null && r.benchServe().failed() > 0) {
          System.out.printf(
              Locale.ROOT,
              "%nbench serve in %s: %d of %d requests failed",
              r.scenario(),
              r.benchServe().failed(),
              r.benchServe().requests());
        }
      }
      System.out.println();
    }
    return results.stream()
            .allMatch(
                r ->
                    r.failed() == 0
                        && r.wrongOutputs() == 0
                        && (r.benchServe() == null || r.benchServe().failed() == 0))
        ? 0
        : 1;
  }
}
