package io.disaggmoe.model.testing;

import static org.junit.jupiter.api.Assertions.fail;

import java.util.Arrays;

/**
 * Assertions on float tensors whose failure names the tensor, the worst element and both values.
 */
public final class TensorAssert {
  private TensorAssert() {}

  /** The largest absolute difference between two equal-length arrays. */
  public static double maxAbsDiff(float[] expected, float[] actual) {
    double max = 0;
    for (int i = 0; i < expected.length; i++) {
      max = Math.max(max, Math.abs((double) expected[i] - actual[i]));
    }
    return max;
  }

  /**
   * Fails unless every element of {@code actual} is within {@code tolerance} of {@code expected};
   * {@code cols} is the row width used to report the worst element as [row, col].
   */
  public static void assertClose(
      String what, float[] expected, float[] actual, int cols, double tolerance) {
    if (expected.length != actual.length) {
      fail(what + ": expected " + expected.length + " values but got " + actual.length);
    }
    int worst = -1;
    double max = 0;
    for (int i = 0; i < expected.length; i++) {
      double d = Math.abs((double) expected[i] - actual[i]);
      if (Double.isNaN(d) || d > max) {
        max = Double.isNaN(d) ? Double.POSITIVE_INFINITY : d;
        worst = i;
      }
    }
    if (max > tolerance) {
      fail(
          String.format(
              "%s: max abs diff %.3g > %.1g at [%d, %d]: expected %.7f, actual %.7f",
              what, max, tolerance, worst / cols, worst % cols, expected[worst], actual[worst]));
    }
  }

  /** Row {@code r} of a row-major {@code [rows, cols]} array. */
  public static float[] row(float[] values, int r, int cols) {
    return Arrays.copyOfRange(values, r * cols, (r + 1) * cols);
  }

  /** Index of the largest value (the lowest index on ties). */
  public static int argmax(float[] values) {
    int best = 0;
    for (int i = 1; i < values.length; i++) {
      if (values[i] > values[best]) {
        best = i;
      }
    }
    return best;
  }
}
