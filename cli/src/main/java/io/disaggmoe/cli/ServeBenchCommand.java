package io.disaggmoe.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.IntStream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.SerializationFeature;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code disaggmoe bench serve}: load a running gateway as vLLM's serving benchmark does and report
 * TTFT, TPOT, ITL, end-to-end latency, throughput and goodput. With {@code --direct}, as many
 * requests again (prompts of the same lengths, all distinct, so none hits another's cached prefix)
 * go straight to the prefill and decode instances, interleaved with the gateway's one by one in the
 * same run (at twice the rate; {@code --concurrency} bounds both paths together), and the gateway's
 * added latency is printed.
 */
@Command(
    name = "serve",
    mixinStandardHelpOptions = true,
    description = "Load a running gateway with random prompts and report serving latencies.")
final class ServeBenchCommand implements Callable<Integer> {
  @Option(names = "--url", required = true, description = "the gateway, e.g. http://127.0.0.1:8080")
  String url;

  @Option(
      names = "--rate",
      defaultValue = "Infinity",
      description = "requests per second (default: all at once)")
  double rate;

  @Option(
      names = "--requests",
      defaultValue = "100",
      description = "requests to send (default 100)")
  int requests;

  @Option(names = "--input-len", defaultValue = "128", description = "prompt tokens (default 128)")
  int inputLen;

  @Option(names = "--output-len", defaultValue = "64", description = "output tokens (default 64)")
  int outputLen;

  @Option(
      names = "--burstiness",
      defaultValue = "1",
      description = "gamma shape of the arrival gaps: 1 is Poisson, lower is burstier (default 1)")
  double burstiness;

  @Option(
      names = "--concurrency",
      defaultValue = "0",
      description = "requests in flight at most (default 0: no limit)")
  int concurrency;

  @Option(names = "--slo", description = "goodput targets, e.g. ttft:500,tpot:50 (milliseconds)")
  String slo;

  @Option(names = "--seed", defaultValue = "0", description = "prompts and arrivals (default 0)")
  long seed;

  @Option(
      names = "--temperature",
      defaultValue = "0",
      description =
          "sampling temperature of every request, on both paths (default 0: greedy, as vLLM's"
              + " benchmark)")
  double temperature;

  @Option(names = "--model", description = "model id (default: the first the gateway lists)")
  String model;

  @Option(names = "--api-key", description = "API key (default: $OPENAI_API_KEY, if set)")
  String apiKey = System.getenv("OPENAI_API_KEY");

  @Option(
      names = "--direct",
      description =
          "also send the workload straight to the prefill and decode instances (from --state)"
              + " and print what the gateway adds")
  boolean direct;

  @Option(
      names = "--state",
      defaultValue = ".disaggmoe/up.json",
      description = "the state file of disaggmoe up, for --direct (default ${DEFAULT-VALUE})")
  Path state;

  @Option(
      names = "--warmup",
      defaultValue = "0",
      description =
          "untimed requests (4 output tokens each) through every path first, 8 at a time, so"
              + " that the JIT has compiled what the timed ones run (default 0)")
  int warmup;

  @Option(
      names = "--warmup-input-len",
      defaultValue = "16",
      description =
          "prompt tokens of each warm-up request, at most --input-len (default ${DEFAULT-VALUE}):"
              + " short prompts make the thousands of requests that bring per-request code to the"
              + " JIT's last tier quick to send")
  int warmupInputLen;

  private static final int WARMUP_CONCURRENCY = 8;

  @Option(names = "--json", description = "print one JSON object")
  boolean json;

  @Option(names = "--plot", description = "write latency distributions and tokens/s to a PNG")
  Path plot;

  @Option(
      names = "--save-detailed",
      paramLabel = "FILE",
      description =
          "write the results and every gateway request (start_times in Unix seconds, ttfts, itls,"
              + " e2els, output_lens, errors, as vLLM's --save-detailed) to a JSON file")
  Path saveDetailed;

  /** The start of the line printed when the timed requests begin. */
  static final String LOAD_STARTS = "bench serve: sending";

  @Override
  public Integer call() throws Exception {
    if (requests < 1
        || inputLen < 1
        || outputLen < 1
        || warmupInputLen < 1
        || !(rate > 0)
        || !(burstiness > 0)) {
      throw new IllegalArgumentException(
          "--requests, --input-len, --output-len and --warmup-input-len must be >= 1, --rate and"
              + " --burstiness > 0");
    }
    if (!(temperature >= 0 && temperature <= 2)) {
      throw new IllegalArgumentException("--temperature must be in [0, 2]");
    }
    ServeStats.Slo targets = ServeStats.Slo.parse(slo);
    String modelId = model != null ? model : CompletionStream.firstModel(url, apiKey);
    List<LoadSender> senders = new ArrayList<>();
    senders.add(new GatewayLoadSender(url, modelId, apiKey, temperature));
    if (direct) {
      JsonNode up = JsonMapper.shared().readTree(state.toFile());
      senders.add(
          new DirectLoadSender(addresses(up, "prefill"), addresses(up, "decode"), temperature));
    }
    for (int k = 0; k < senders.size() && warmup > 0; k++) {
      // Prompts of each path's own, from seeds no timed run uses: nothing timed is cached.
      ServeLoad.run(
          List.of(senders.get(k)),
          ServeLoad.prompts(warmup, Math.min(inputLen, warmupInputLen), ~seed - k),
          Math.min(outputLen, 4),
          new long[warmup],
          WARMUP_CONCURRENCY);
    }
    int total = requests * senders.size();
    // On stderr, so that --json stays one object: a script running this beside something else
    // (the chaos suite) knows when the timed load begins.
    System.err.printf(Locale.ROOT, "%s %d requests%n", LOAD_STARTS, total);
    List<ServeLoad.Result> results;
    try {
      results =
          ServeLoad.run(
              senders,
              ServeLoad.prompts(total, inputLen, seed),
              outputLen,
              ServeLoad.arrivals(total, rate * senders.size(), burstiness, seed),
              // Both paths together: at --concurrency 1 they alternate one request at a time,
              // so neither waits behind the other's.
              concurrency);
    } finally {
      senders.forEach(LoadSender::close);
    }
    ServeLoad.Result viaGateway = results.getFirst();
    Map<String, Object> result = new LinkedHashMap<>();
    result.put("model", modelId);
    result.put("requests", requests);
    result.put("rate", Double.isInfinite(rate) ? "inf" : rate);
    result.put("burstiness", burstiness);
    result.put("input_len", inputLen);
    result.put("output_len", outputLen);
    Map<String, Object> gateway = ServeStats.of(viaGateway, targets);
    result.putAll(gateway);
    Map<String, Object> straight = null;
    if (direct) {
      straight = ServeStats.of(results.get(1), targets);
      result.put("direct", straight);
      result.put(
          "added_ttft_p50_ms",
          (double) gateway.get("median_ttft_ms") - (double) straight.get("median_ttft_ms"));
      result.put(
          "added_itl_p50_ms",
          (double) gateway.get("median_itl_ms") - (double) straight.get("median_itl_ms"));
      result.put("added_ttft_paired_p50_ms", pairedTtftDifference(viaGateway, results.get(1)));
    }
    if (saveDetailed != null) {
      DetailedTimings.write(saveDetailed, result, viaGateway.timings());
    }
    if (plot != null) {
      ServePlot.write(
          viaGateway,
          String.format(Locale.ROOT, "%s, %s req/s", modelId, result.get("rate")),
          plot);
    }
    if (json) {
      System.out.println(
          JsonMapper.builder()
              .enable(SerializationFeature.INDENT_OUTPUT)
              .build()
              .writeValueAsString(result));
    } else {
      printTable(gateway, straight);
      if (direct) {
        System.out.printf(
            Locale.ROOT,
            "gateway adds: TTFT p50 %+.2f ms (paired %+.2f ms), ITL p50 %+.2f ms%n",
            result.get("added_ttft_p50_ms"),
            result.get("added_ttft_paired_p50_ms"),
            result.get("added_itl_p50_ms"));
      }
    }
    return ((int) gateway.get("failed")) == 0 ? 0 : 1;
  }

  /**
   * The median over request pairs of the gateway's TTFT less the direct one's, request i of each
   * path being sent one after the other: spells when the whole machine runs slow (on a shared one,
   * seconds long) fall on both of a pair and cancel, where they widen both p50s unevenly.
   */
  static double pairedTtftDifference(ServeLoad.Result gateway, ServeLoad.Result direct) {
    List<RequestTiming> g = gateway.timings();
    List<RequestTiming> d = direct.timings();
    double[] differences =
        IntStream.range(0, Math.min(g.size(), d.size()))
            .filter(i -> g.get(i).ok() && d.get(i).ok())
            .mapToDouble(i -> g.get(i).ttftMs() - d.get(i).ttftMs())
            .toArray();
    return ServeStats.percentile(differences, 50);
  }

  private static List<String> addresses(JsonNode up, String role) {
    List<String> out = new ArrayList<>();
    for (JsonNode s : up.get("services")) {
      if (s.get("role").asString().equals(role)) {
        out.add(s.get("address").asString());
      }
    }
    if (out.isEmpty()) {
      throw new IllegalArgumentException("the state file names no " + role + " instance");
    }
    return out;
  }

  private void printTable(Map<String, Object> g, Map<String, Object> d) {
    System.out.printf(
        Locale.ROOT,
        "%d requests, %d prompt + %d output tokens each, rate %s, burstiness %.2f%n",
        requests,
        inputLen,
        outputLen,
        Double.isInfinite(rate) ? "inf" : String.valueOf(rate),
        burstiness);
    System.out.printf(
        Locale.ROOT,
        "%-28s %14s%s%n",
        "",
        "gateway",
        d == null ? "" : String.format("%14s", "direct"));
    for (String key : g.keySet()) {
      Object v = g.get(key);
      if (v instanceof List<?>) {
        continue;
      }
      String dv = d == null ? "" : String.format(Locale.ROOT, "%14s", format(d.get(key)));
      System.out.printf(Locale.ROOT, "%-28s %14s%s%n", key, format(v), dv);
    }
    if (g.get("errors") instanceof List<?> errors) {
      System.out.println("errors: " + errors);
    }
  }

  private static String format(Object v) {
    return v instanceof Double x ? String.format(Locale.ROOT, "%.2f", x) : String.valueOf(v);
  }
}
