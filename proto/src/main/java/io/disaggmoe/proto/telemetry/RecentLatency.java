package io.disaggmoe.proto.telemetry;

import java.time.Duration;
import java.util.Arrays;

/**
 * The latest few latencies of one kind (a prefill's time to first token, a decode step) within a
 * window of time, and their 90th percentile: what a stage reports to the control plane for its
 * scaling signals. Samples older than the window no longer count, so that an idle stage reports 0
 * rather than the latency of its last busy minute.
 */
public final class RecentLatency {
  private final long[] nanos;
  private final long[] at;
  private final long windowNanos;
  private int next;
  private int count;

  public RecentLatency(int samples, Duration window) {
    this.nanos = new long[samples];
    this.at = new long[samples];
    this.windowNanos = window.toNanos();
  }

  public synchronized void record(long elapsedNanos) {
    nanos[next] = elapsedNanos;
    at[next] = System.nanoTime();
    next = (next + 1) % nanos.length;
    count = Math.min(count + 1, nanos.length);
  }

  /** The 90th percentile of the samples within the window, in ms; 0 when there are none. */
  public double p90Millis() {
    long[] kept = new long[nanos.length];
    int n = 0;
    long now = System.nanoTime();
    synchronized (this) {
      for (int i = 0; i < count; i++) {
        if (now - at[i] <= windowNanos) {
          kept[n++] = nanos[i];
        }
      }
    }
    if (n == 0) {
      return 0;
    }
    Arrays.sort(kept, 0, n);
    return kept[(int) Math.ceil(0.9 * n) - 1] / 1e6;
  }
}
