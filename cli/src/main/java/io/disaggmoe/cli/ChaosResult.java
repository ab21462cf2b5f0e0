package io.disaggmoe.cli;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What one chaos scenario cost, against an undisturbed greedy run of the same prompts: requests
 * completed and failed, tokens lost or repeated (from the longest common subsequence of a request's
 * tokens and its reference), wrong outputs; when the suite served again (from the fault to the end
 * of the first request sent after it that completed correctly) and when it recovered (from the
 * fault to the sending of the first request after it that completed correctly within 1.5 times the
 * median end-to-end latency of the requests sent before it); -1 when none did. Client retries count
 * requests the client sent again to another gateway after a connection failure.
 *
 * <p>Latency percentiles of the completed requests in three windows: before (ended before the
 * fault); during (running at the fault, or sent from then until the fault has ended and the suite
 * has recovered, or to the end of the load when it never did); after (sent later).
 *
 * <p>{@code failures}: per failed request, its prompt, when it was sent relative to the fault (ms;
 * negative before it) and the error the client saw.
 *
 * <p>{@code benchServe}: a {@code bench serve} process's requests, sent beside the suite's own load
 * during the scenario, in the same three windows (null when none ran).
 *
 * <p>{@code routing}: the instances that served each request, and what routing did about the one
 * the fault struck.
 */
record ChaosResult(
    String scenario,
    String fault,
    int requests,
    int completed,
    int failed,
    int tokensLost,
    int tokensRepeated,
    int wrongOutputs,
    long servedAgainMs,
    long recoveryMs,
    long e2eP50MsBefore,
    int clientRetries,
    Latency before,
    Latency during,
    Latency after,
    List<String> failures,
    BenchServe benchServe,
    ChaosRouting routing) {

  /** A {@code bench serve} run beside the load: its requests, failed ones and three windows. */
  record BenchServe(int requests, int failed, Latency before, Latency during, Latency after) {
    Map<String, Object> json() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("requests", requests);
      m.put("failed", failed);
      m.put("before", before.json());
      m.put("during", during.json());
      m.put("after", after.json());
      return m;
    }
  }

  /**
   * {@code bench serve}'s latencies of the completed requests of one window, under its definitions
   * ({@link ServeStats}): time to first token, time per output token, inter-token latency and
   * end-to-end latency, median and p99 in ms (-1 where the window has none).
   */
  record Latency(
      int requests,
      long ttftP50Ms,
      long ttftP99Ms,
      long tpotP50Ms,
      long tpotP99Ms,
      long itlP50Ms,
      long itlP99Ms,
      long e2eP50Ms,
      long e2eP99Ms) {
    static Latency of(List<RequestTiming> timings) {
      List<RequestTiming> ok = timings.stream().filter(RequestTiming::ok).toList();
      double[] ttft = ok.stream().mapToDouble(RequestTiming::ttftMs).toArray();
      double[] tpot = ServeStats.tpots(ok);
      double[] itl = ServeStats.itls(ok);
      double[] e2e = ok.stream().mapToDouble(RequestTiming::e2elMs).toArray();
      return new Latency(
          ok.size(),
          ms(ttft, 50),
          ms(ttft, 99),
          ms(tpot, 50),
          ms(tpot, 99),
          ms(itl, 50),
          ms(itl, 99),
          ms(e2e, 50),
          ms(e2e, 99));
    }

    private static long ms(double[] values, int p) {
      return values.length == 0 ? -1 : Math.round(ServeStats.percentile(values, p));
    }

    Map<String, Object> json() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("requests", requests);
      m.put("ttft_p50_ms", ttftP50Ms);
      m.put("ttft_p99_ms", ttftP99Ms);
      m.put("tpot_p50_ms", tpotP50Ms);
      m.put("tpot_p99_ms", tpotP99Ms);
      m.put("itl_p50_ms", itlP50Ms);
      m.put("itl_p99_ms", itlP99Ms);
      m.put("e2e_p50_ms", e2eP50Ms);
      m.put("e2e_p99_ms", e2eP99Ms);
      return m;
    }
  }

  /**
   * {@code faultNanos}: when the fault began; {@code faultEndNanos}: when it had run to its end (a
   * kill at once, a rolling restart once the last service was back). {@code benchServe}: the
   * requests of a {@code bench serve} run beside the load, or null.
   */
  static ChaosResult of(
      String scenario,
      String fault,
      List<ChaosLoad.Sent> sent,
      List<List<String>> reference,
      long faultNanos,
      long faultEndNanos,
      List<RequestTiming> benchServe,
      ChaosRouting routing) {
    int completed = 0;
    int failed = 0;
    int lost = 0;
    int repeated = 0;
    int wrong = 0;
    int retries = 0;
    List<String> failures = new java.util.ArrayList<>();
    List<Long> before = new java.util.ArrayList<>();
    for (ChaosLoad.Sent r : sent) {
      if (r.error() == null && r.startNanos() < faultNanos) {
        before.add(r.endNanos() - r.startNanos());
      }
    }
    before.sort(null);
    long p50 = before.isEmpty() ? Long.MAX_VALUE : before.get(before.size() / 2);
    long recovery = -1;
    long served = -1;
    for (ChaosLoad.Sent r : sent) {
      List<String> want = reference.get(r.prompt());
      retries += r.retries();
      if (r.error() != null) {
        failed++;
        failures.add(
            "prompt "
                + r.prompt()
                + ", sent "
                + (r.startNanos() - faultNanos) / 1_000_000
                + " ms after the fault: "
                + r.error());
        continue;
      }
      completed++;
      int common = commonSubsequence(r.tokens(), want);
      lost += want.size() - common;
      repeated += r.tokens().size() - common;
      boolean right = r.tokens().equals(want);
      if (!right) {
        wrong++;
      }
      if (right && r.startNanos() > faultNanos) {
        long ms = (r.endNanos() - faultNanos) / 1_000_000;
        served = served < 0 ? ms : Math.min(served, ms);
      }
      boolean usual = r.endNanos() - r.startNanos() <= p50 * 3 / 2;
      if (right && usual && r.startNanos() > faultNanos) {
        long ms = (r.startNanos() - faultNanos) / 1_000_000;
        recovery = recovery < 0 ? ms : Math.min(recovery, ms);
      }
    }
    long duringEnd =
        Math.max(faultEndNanos, recovery < 0 ? Long.MAX_VALUE : faultNanos + recovery * 1_000_000);
    Latency[] load =
        windows(sent.stream().map(ChaosLoad.Sent::timing).toList(), faultNanos, duringEnd);
    Latency[] bench = benchServe == null ? null : windows(benchServe, faultNanos, duringEnd);
    return new ChaosResult(
        scenario,
        fault,
        sent.size(),
        completed,
        failed,
        lost,
        repeated,
        wrong,
        served,
        recovery,
        before.isEmpty() ? -1 : p50 / 1_000_000,
        retries,
        load[0],
        load[1],
        load[2],
        failures,
        bench == null
            ? null
            : new BenchServe(
                benchServe.size(),
                (int) benchServe.stream().filter(t -> !t.ok()).count(),
                bench[0],
                bench[1],
                bench[2]),
        routing);
  }

  /**
   * Before (ended before the fault), during (ended at or after it and sent before {@code
   * duringEnd}) and after (sent from {@code duringEnd} on).
   */
  private static Latency[] windows(List<RequestTiming> timings, long faultNanos, long duringEnd) {
    return new Latency[] {
      Latency.of(timings.stream().filter(t -> t.endNanos() < faultNanos).toList()),
      Latency.of(
          timings.stream()
              .filter(t -> t.endNanos() >= faultNanos && t.sentNanos() < duringEnd)
              .toList()),
      Latency.of(timings.stream().filter(t -> t.sentNanos() >= duringEnd).toList())
    };
  }

  private static int commonSubsequence(List<String> a, List<String> b) {
    int[][] m = new int[a.size() + 1][b.size() + 1];
    for (int i = 1; i <= a.size(); i++) {
      for (int j = 1; j <= b.size(); j++) {
        m[i][j] =
            a.get(i - 1).equals(b.get(j - 1))
                ? m[i - 1][j - 1] + 1
                : Math.max(m[i - 1][j], m[i][j - 1]);
      }
    }
    return m[a.size()][b.size()];
  }

  Map<String, Object> json() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("scenario", scenario);
    m.put("fault", fault);
    m.put("requests", requests);
    m.put("completed", completed);
    m.put("failed", failed);
    m.put("tokens_lost", tokensLost);
    m.put("tokens_repeated", tokensRepeated);
    m.put("wrong_outputs", wrongOutputs);
    m.put("served_again_ms", servedAgainMs);
    m.put("recovery_ms", recoveryMs);
    m.put("e2e_p50_ms_before", e2eP50MsBefore);
    m.put("client_retries", clientRetries);
    Map<String, Object> latency = new LinkedHashMap<>();
    latency.put("before", before.json());
    latency.put("during", during.json());
    latency.put("after", after.json());
    m.put("latency", latency);
    m.put("failures", failures);
    if (benchServe != null) {
      m.put("bench_serve", benchServe.json());
    }
    m.put("routing", routing.json());
    return m;
  }
}
