package io.disaggmoe.gateway.core;

import io.disaggmoe.proto.v1.FinishReason;
import java.util.ArrayList;
import java.util.List;

/**
 * One request's latencies as vLLM defines them: time to the first token, every gap between two
 * token-bearing events, end to end, and per output token after the first; the time it waited for
 * admission, and from there its phases (to the first token, to the last, to the end). The HTTP API
 * and the gRPC GenerateService time their requests alike.
 */
public final class RequestTimer {
  private final GatewayMetrics metrics;
  private final int promptTokens;
  private final int n;
  private final int maxTokens;
  private final long start = System.nanoTime();
  private long admitted = -1;
  private long first = -1;
  private long last = -1;
  private boolean recorded;
  private final List<String> reasons = new ArrayList<>();

  /** A request of {@code promptTokens} (all its prompts), {@code n} and {@code maxTokens}. */
  public RequestTimer(GatewayMetrics metrics, int promptTokens, int n, int maxTokens) {
    this.metrics = metrics;
    this.promptTokens = promptTokens;
    this.n = n;
    this.maxTokens = maxTokens;
  }

  /** The request got its admission place. */
  public void admitted() {
    admitted = System.nanoTime();
    metrics.queued((admitted - start) / 1e9);
  }

  /** A chunk of {@code tokens} came for one choice; {@code finish} says whether it ended it. */
  public void tokens(int tokens, FinishReason finish) {
    if (tokens == 0) {
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
    metrics.generated(tokens);
    String reason = openAiName(finish);
    if (reason != null) {
      reasons.add(reason);
    }
  }

  /** The request ended well with {@code outputTokens} over all its choices (recorded once). */
  public void finished(int outputTokens) {
    if (recorded) {
      return;
    }
    recorded = true;
    long now = System.nanoTime();
    double firstSeconds = first < 0 ? 0 : (first - start) / 1e9;
    metrics.finished((now - start) / 1e9, firstSeconds, outputTokens, reasons);
    long from = admitted < 0 ? start : admitted;
    long firstAt = first < 0 ? now : first;
    metrics.phases(
        (firstAt - from) / 1e9, ((last < 0 ? now : last) - firstAt) / 1e9, (now - from) / 1e9);
    metrics.shape(promptTokens, n, maxTokens);
  }

  /** OpenAI's (and vLLM's) name of a finish reason, or null while the choice goes on. */
  public static String openAiName(FinishReason finish) {
    return switch (finish) {
      case FINISH_REASON_STOP -> "stop";
      case FINISH_REASON_LENGTH -> "length";
      case FINISH_REASON_UNSPECIFIED, UNRECOGNIZED -> null;
      case FINISH_REASON_CANCELLED -> "abort";
    };
  }
}
