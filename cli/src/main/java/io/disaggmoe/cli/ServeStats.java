package io.disaggmoe.cli;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The figures of a load run under vLLM's names and definitions: TTFT, TPOT, ITL (every gap between
 * two token-bearing chunks) and end-to-end latency as mean, median, p90 and p99 in milliseconds;
 * request and output-token throughput; and goodput, the share of all requests sent (failures
 * included) that met every SLO.
 */
final class ServeStats {
  private ServeStats() {}

  /** SLOs in milliseconds; NaN for none. */
  record Slo(double ttftMs, double tpotMs) {
    static Slo parse(String spec) {
      double ttft = Double.NaN;
      double tpot = Double.NaN;
      if (spec != null && !spec.isBlank()) {
        for (String part : spec.split(",")) {
          String[] kv = part.split(":");
          if (kv.length != 2) {
            throw new IllegalArgumentException("--slo takes ttft:MS,tpot:MS, got " + spec);
          }
          switch (kv[0].trim()) {
            case "ttft" -> ttft = Double.parseDouble(kv[1]);
            case "tpot" -> tpot = Double.parseDouble(kv[1]);
            default ->
                throw new IllegalArgumentException("--slo knows ttft and tpot, not " + kv[0]);
          }
        }
      }
      return new Slo(ttft, tpot);
    }

    boolean met(RequestTiming t) {
      return t.ok()
          && (Double.isNaN(ttftMs) || t.ttftMs() <= ttftMs)
          && (Double.isNaN(tpotMs) || t.tpotMs() <= tpotMs);
    }
  }

  static Map<String, Object> of(ServeLoad.Result r, Slo slo) {
    List<RequestTiming> ok = r.timings().stream().filter(RequestTiming::ok).toList();
    Map<String, Object> m = new LinkedHashMap<>();
    long outputTokens = ok.stream().mapToLong(RequestTiming::outputTokens).sum();
    double seconds = r.seconds();
    m.put("completed", ok.size());
    m.put("failed", r.timings().size() - ok.size());
    m.put("duration_s", seconds);
    m.put("total_output_tokens", outputTokens);
    m.put("request_throughput", ok.size() / seconds);
    m.put("output_throughput", outputTokens / seconds);
    put(m, "ttft", ok.stream().mapToDouble(RequestTiming::ttftMs).toArray());
    put(m, "tpot", tpots(ok));
    put(m, "itl", itls(ok));
    put(m, "e2el", ok.stream().mapToDouble(RequestTiming::e2elMs).toArray());
    long good = r.timings().stream().filter(slo::met).count();
    m.put("goodput", r.timings().isEmpty() ? 0.0 : good / (double) r.timings().size());
    m.put("request_goodput", good / seconds);
    List<String> errors =
        r.timings().stream()
            .filter(t -> t.error() != null)
            .map(RequestTiming::error)
            .distinct()
            .limit(3)
            .toList();
    if (!errors.isEmpty()) {
      m.put("errors", errors);
    }
    return m;
  }

  /** Time per output token of each request with more than one. */
  static double[] tpots(List<RequestTiming> timings) {
    return timings.stream()
        .filter(t -> t.outputTokens() > 1)
        .mapToDouble(RequestTiming::tpotMs)
        .toArray();
  }

  static double[] itls(List<RequestTiming> timings) {
    List<Double> gaps = new ArrayList<>();
    for (RequestTiming t : timings) {
      for (int i = 1; i < t.chunkNanos().length; i++) {
        gaps.add((t.chunkNanos()[i] - t.chunkNanos()[i - 1]) / 1e6);
      }
    }
    return gaps.stream().mapToDouble(Double::doubleValue).toArray();
  }

  private static void put(Map<String, Object> m, String name, double[] values) {
    m.put("mean_" + name + "_ms", Arrays.stream(values).average().orElse(Double.NaN));
    m.put("median_" + name + "_ms", percentile(values, 50));
    m.put("p90_" + name + "_ms", percentile(values, 90));
    m.put("p99_" + name + "_ms", percentile(values, 99));
  }

  /** Linear interpolation between the closest ranks, as numpy's default. */
  static double percentile(double[] values, double p) {
    if (values.length == 0) {
      return Double.NaN;
    }
    double[] v = values.clone();
    Arrays.sort(v);
    double rank = p / 100 * (v.length - 1);
    int lo = (int) Math.floor(rank);
    int hi = Math.min(lo + 1, v.length - 1);
    return v[lo] + (rank - lo) * (v[hi] - v[lo]);
  }
}
