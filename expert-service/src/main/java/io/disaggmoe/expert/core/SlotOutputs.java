package io.disaggmoe.expert.core;

import java.nio.FloatBuffer;
import java.util.function.Consumer;

/**
 * A completed dispatch's result: for each of this pool's slots, in slot order ({@code token * k +
 * j}, skipping other pools' slots), its routing weight times its expert's output, {@code [slots,
 * hidden]} row-major. The caller adds a token's rows from every pool in ascending expert order, so
 * a token's sum does not depend on how experts are spread over pools (a pool's death or a rebalance
 * mid-request changes nothing). It is written straight into the caller's buffer (a reply's bytes)
 * rather than handed over as a fresh array, which would cost a cold allocation per dispatch.
 */
public final class SlotOutputs {
  private final int size;
  private final Consumer<FloatBuffer> writer;

  SlotOutputs(int size, Consumer<FloatBuffer> writer) {
    this.size = size;
    this.writer = writer;
  }

  /** The result of a dispatch none of whose slots is this pool's. */
  static SlotOutputs none() {
    return new SlotOutputs(0, out -> {});
  }

  /** {@code slots * hidden}. */
  public int size() {
    return size;
  }

  /** Writes the rows into {@code out} by absolute index from 0. */
  public void writeTo(FloatBuffer out) {
    if (out.limit() < size) {
      throw new IllegalArgumentException(
          "out holds " + out.limit() + " values for " + size + " slot outputs");
    }
    writer.accept(out);
  }

  /** The rows in a new array. */
  public float[] toArray() {
    float[] a = new float[size];
    writeTo(FloatBuffer.wrap(a));
    return a;
  }
}
