package io.disaggmoe.model.kernel;

import java.util.Locale;

/**
 * Which code multiplies activations by a {@link WeightMatrix}.
 *
 * <p>{@code AUTO} takes the Vector API kernel for up to {@link MatMul#VECTOR_MAX_ROWS} rows (a
 * decode step: reading the weights is the cost, and libtorch cannot read BF16 or FP8 weights
 * against float32 activations without widening them first), and libtorch above that (prefill:
 * compute is the cost, and its GEMM is faster than ours there). The system property {@code
 * disaggmoe.kernel} overrides it, for tests and comparisons.
 */
public enum Kernel {
  AUTO,
  VECTOR,
  SCALAR,
  TORCH;

  /** The kernel the system property {@code disaggmoe.kernel} names, AUTO when unset. */
  public static Kernel configured() {
    String v = System.getProperty("disaggmoe.kernel", "auto");
    try {
      return valueOf(v.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "disaggmoe.kernel=" + v + " is not one of auto, vector, scalar, torch", e);
    }
  }
}
