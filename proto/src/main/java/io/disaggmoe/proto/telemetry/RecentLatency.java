package io.disaggmoe.proto.telemetry;

import java.util.Arrays;

/**
 * The latest few latencies of one kind (a prefill's time to first token, a decode step) and their
 * 90th percentile: what a stage reports to the control plane for its scaling signals.
 */
public final class RecentLatency {
  private final long[] nanos;
  private int next;
  private int count;

  public RecentLatency(int samples) {
    this.nanos = new long[samples];
  }

  public synchronized void record(long elapsedNanos) {
    nanos[next] = elapsedNanos;
    next = (next + 1) % nanos.length;
    count = Math.min(count + 1, nanos.length);
  }

  /** The 90th percentile of the samples kept, in ms; 0 before the first. */
  public double p90Millis() {
    long[] kept;
    synchronized (this) {
      kept = Arrays.copyOf(nanos, count);
    }
    if (kept.length == 0) {
      return 0;
    }
    Arrays.sort(kept);
    return kept[(int) Math.ceil(0.9 * kept.length) - 1] / 1e6;
  }
}
