package io.disaggmoe.model.kernel;

import java.util.Locale;

/**
 * Which code multiplies activations by a {@link WeightMatrix}.
 *
 * <p>{@code AUTO} takes the Vector API kernel at any row count where it reads the weight's dtype
 * (without the Vector API module: the scalar kernel up to {@link MatMul#ROW_BLOCK} rows, libtorch
 * above). It gives each row the same bits whatever rows are batched with it, which libtorch's GEMM
 * does not promise; and it reads BF16 and FP8 weights as they are, where libtorch must widen them
 * to float32 first: a 512-token prompt of the bench model prefilled at 330-440 tokens/s on it
 * against 170-210 on libtorch. The system property {@code disaggmoe.kernel} overrides it, for tests
 * and comparisons.
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
