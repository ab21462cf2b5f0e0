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
    int clientRetries) {

  static ChaosResult of(
      ChaosScenario s, List<ChaosLoad.Sent> sent, List<List<String>> reference, long faultNanos) {
    int completed = 0;
    int failed = 0;
    int lost = 0;
    int repeated = 0;
    int wrong = 0;
    int retries = 0;
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
    return new ChaosResult(
        s.id,
        s.what,
        sent.size(),
        completed,
        failed,
        lost,
        repeated,
        wrong,
        served,
        recovery,
        before.isEmpty() ? -1 : p50 / 1_000_000,
        retries);
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
    return m;
  }
}
