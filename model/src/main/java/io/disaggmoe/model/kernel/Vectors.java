package io.disaggmoe.model.kernel;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Dot products and scaled adds over float arrays with the Vector API (plain loops when the module
 * is absent). Each sums in one fixed order for given lengths, so a result depends only on its
 * operands: in particular a dot product's lanes are added by halving, lane-wise adds whose result
 * the API specifies exactly, not by {@code reduceLanes}, whose order differs between the
 * interpreter and compiled code (a row's logits changed when the JIT compiled it mid-decode).
 */
public final class Vectors {
  private static final boolean VECTOR = MatMul.vectorAvailable();

  private Vectors() {}

  /** {@code Σ a[ao+i] * b[bo+i]} for {@code i < n}. */
  public static float dot(float[] a, int ao, float[] b, int bo, int n) {
    return VECTOR ? Simd.dot(a, ao, b, bo, n) : scalarDot(a, ao, b, bo, n);
  }

  /** {@code y[yo+i] += alpha * x[xo+i]} for {@code i < n}. */
  public static void axpy(float alpha, float[] x, int xo, float[] y, int yo, int n) {
    if (VECTOR) {
      Simd.axpy(alpha, x, xo, y, yo, n);
      return;
    }
    for (int i = 0; i < n; i++) {
      y[yo + i] += alpha * x[xo + i];
    }
  }

  private static float scalarDot(float[] a, int ao, float[] b, int bo, int n) {
    float s = 0;
    for (int i = 0; i < n; i++) {
      s += a[ao + i] * b[bo + i];
    }
    return s;
  }

  /** Kept apart so that no Vector API class loads where the module is absent. */
  private static final class Simd {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();

    /** Lane i takes lane i + L/2, i + L/4, ... (wrapping): each halving step of the lane sum. */
    @SuppressWarnings("unchecked")
    private static final VectorShuffle<Float>[] HALVES = halves();

    private static VectorShuffle<Float>[] halves() {
      int steps = Integer.numberOfTrailingZeros(L);
      VectorShuffle<Float>[] h = new VectorShuffle[steps];
      for (int k = 0; k < steps; k++) {
        h[k] = VectorShuffle.iota(F, L >> (k + 1), 1, true);
      }
      return h;
    }

    static float dot(float[] a, int ao, float[] b, int bo, int n) {
      FloatVector acc = FloatVector.zero(F);
      int i = 0;
      for (; i <= n - L; i += L) {
        acc = FloatVector.fromArray(F, a, ao + i).fma(FloatVector.fromArray(F, b, bo + i), acc);
      }
      for (VectorShuffle<Float> half : HALVES) {
        acc = acc.add(acc.rearrange(half));
      }
      float s = acc.lane(0);
      for (; i < n; i++) {
        s += a[ao + i] * b[bo + i];
      }
      return s;
    }

    static void axpy(float alpha, float[] x, int xo, float[] y, int yo, int n) {
      FloatVector a = FloatVector.broadcast(F, alpha);
      int i = 0;
      for (; i <= n - L; i += L) {
        FloatVector.fromArray(F, x, xo + i)
            .fma(a, FloatVector.fromArray(F, y, yo + i))
            .intoArray(y, yo + i);
      }
      for (; i < n; i++) {
        y[yo + i] += alpha * x[xo + i];
      }
    }
  }
}
