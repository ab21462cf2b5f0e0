package io.disaggmoe.expert.core;

import java.nio.FloatBuffer;
import java.util.function.Consumer;

/**
 * A completed dispatch's result: per token, the weighted sum of this pool's expert outputs, {@code
 * [tokens, hidden]} row-major. It is added straight into the caller's buffer (a reply's bytes)
 * rather than handed over as a fresh array, which would cost a cold allocation per dispatch.
 */
public final class PartialSums {
  private final int size;
  private final Consumer<FloatBuffer> adder;

  PartialSums(int size, Consumer<FloatBuffer> adder) {
    this.size = size;
    this.adder = adder;
  }

  /** The sums of a dispatch none of whose slots is this pool's. */
  static PartialSums zeros(int size) {
    return new PartialSums(size, out -> {});
  }

  /** {@code tokens * hidden}. */
  public int size() {
    return size;
  }

  /** Adds the sums into {@code out} (which the caller zeroed) by absolute index from 0. */
  public void addTo(FloatBuffer out) {
    if (out.limit() < size) {
      throw new IllegalArgumentException(
          "out holds " + out.limit() + " values for " + size + " partial sums");
    }
    adder.accept(out);
  }

  /** The sums in a new array. */
  public float[] toArray() {
    float[] a = new float[size];
    addTo(FloatBuffer.wrap(a));
    return a;
  }
}
