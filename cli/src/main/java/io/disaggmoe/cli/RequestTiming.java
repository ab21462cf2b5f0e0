package io.disaggmoe.cli;

/**
 * When one benchmark request was sent, when each of its token-bearing chunks arrived and when it
 * ended, or why it failed.
 *
 * @param chunkNanos arrival of every chunk that carried tokens, the first one included
 */
record RequestTiming(
    long sentNanos, long[] chunkNanos, long endNanos, int outputTokens, String error) {
  static RequestTiming failed(long sentNanos, String error) {
    return new RequestTiming(sentNanos, new long[0], System.nanoTime(), 0, error);
  }

  boolean ok() {
    return error == null && chunkNanos.length > 0;
  }

  double ttftMs() {
    return (chunkNanos[0] - sentNanos) / 1e6;
  }

  double e2elMs() {
    return (endNanos - sentNanos) / 1e6;
  }

  /** vLLM's time per output token: the time after the first token over the tokens after it. */
  double tpotMs() {
    return outputTokens > 1 ? (e2elMs() - ttftMs()) / (outputTokens - 1) : 0;
  }
}
