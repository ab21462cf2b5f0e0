package io.disaggmoe.gateway.http;

/**
 * One request's latencies as vLLM defines them: time to the first token, every gap between two
 * token-bearing events, end to end, and per output token after the first.
 */
final class RequestTimer {
  private final io.disaggmoe.gateway.core.GatewayMetrics metrics;
  private final long start = System.nanoTime();
  private long first = -1;
  private long last = -1;
  private boolean recorded;
  private final java.util.List<String> reasons = new java.util.ArrayList<>();

  RequestTimer(io.disaggmoe.gateway.core.GatewayMetrics metrics) {
    this.metrics = metrics;
  }

  void event(ChoiceEvent e, OpenAiRequest request) {
    if (e.isPrefilled() || e.tokens().isEmpty()) {
      return;
    }
    long now = System.nanoTime();
    if (first < 0) {
      first = now;
      metrics.firstToken((now - start) / 1e9);
    } else {
      metrics.interToken((now - last) / 1e9);
    }
    last = now;
    metrics.generated(e.tokens().size());
    if (e.finished()) {
      reasons.add(e.finishName());
    }
  }

  void finished(int outputTokens) {
    if (recorded) {
      return;
    }
    recorded = true;
    long now = System.nanoTime();
    double firstSeconds = first < 0 ? 0 : (first - start) / 1e9;
    metrics.finished((now - start) / 1e9, firstSeconds, outputTokens, reasons);
  }
}
