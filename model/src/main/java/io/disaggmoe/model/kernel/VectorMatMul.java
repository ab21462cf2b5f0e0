package io.disaggmoe.model.kernel;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Multiplies float32 activations by a float32 weight (BF16 and FP8 have kernels of their own,
 * {@link Bf16MatMul} and {@link Fp8MatMul}): the weights are read once per call, whatever the row
 * count.
 *
 * <p>Every output is summed the same way whatever else is in the batch: two lane-wise accumulators
 * over alternate vectors of the row, in column order, added lane-wise, then their lanes one by one,
 * then the columns past the last whole pair of vectors. The kernel for one row and the one for four
 * rows do exactly that, so a row's result does not depend on its batch (batch invariance). Their
 * loops run over the weight index, the activations' indexes offsets from it, so the JIT checks
 * bounds once before a loop, not at every load.
 */
final class VectorMatMul {
  private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
  private static final int L = F.length();

  private VectorMatMul() {}

  /** {@code y[n, rows] = x[n, cols] · Wᵀ} for output rows {@code [from, to)}. */
  static void multiply(WeightMatrix w, float[] x, int n, float[] y, int from, int to) {
    float[] lanes = new float[4 * L];
    for (int o = from; o < to; o++) {
      int b = 0;
      for (; b + 4 <= n; b += 4) {
        fourRows(w, x, b, y, o, lanes);
      }
      for (; b < n; b++) {
        oneRow(w, x, b, y, o, lanes);
      }
    }
  }

  /** Sums {@code v[from, to)} in lanes (for the read-bandwidth probe: exact for small integers). */
  static float sum(float[] v, int from, int to) {
    FloatVector a0 = FloatVector.zero(F);
    FloatVector a1 = a0;
    int i = from;
    for (; i <= to - 2 * L; i += 2 * L) {
      a0 = a0.add(FloatVector.fromArray(F, v, i));
      a1 = a1.add(FloatVector.fromArray(F, v, i + L));
    }
    float s = a0.add(a1).reduceLanes(VectorOperators.ADD);
    for (; i < to; i++) {
      s += v[i];
    }
    return s;
  }

  private static void oneRow(WeightMatrix w, float[] x, int b, float[] y, int o, float[] lanes) {
    int cols = w.cols();
    int main = cols - cols % (2 * L);
    int x0 = b * cols;
    int w0 = o * cols;
    int dx = x0 - w0;
    float[] f = w.f32();
    FloatVector a0 = FloatVector.zero(F);
    FloatVector a1 = a0;
    int end = w0 + main;
    for (int j = w0; j < end; j += 2 * L) {
      a0 = FloatVector.fromArray(F, x, j + dx).fma(FloatVector.fromArray(F, f, j), a0);
      a1 = FloatVector.fromArray(F, x, j + dx + L).fma(FloatVector.fromArray(F, f, j + L), a1);
    }
    a0.add(a1).intoArray(lanes, 0);
    y[b * w.rows() + o] = finish(w, x, x0, o, main, lanes, 0);
  }

  private static void fourRows(WeightMatrix w, float[] x, int b, float[] y, int o, float[] lanes) {
    int cols = w.cols();
    int main = cols - cols % (2 * L);
    int x0 = b * cols;
    int x1 = x0 + cols;
    int x2 = x1 + cols;
    int x3 = x2 + cols;
    FloatVector z = FloatVector.zero(F);
    FloatVector a00 = z, a01 = z, a10 = z, a11 = z, a20 = z, a21 = z, a30 = z, a31 = z;
    int wo = o * cols;
    int d0 = x0 - wo, d1 = x1 - wo, d2 = x2 - wo, d3 = x3 - wo;
    float[] f = w.f32();
    int end = wo + main;
    for (int j = wo; j < end; j += 2 * L) {
      FloatVector w0 = FloatVector.fromArray(F, f, j);
      FloatVector w1 = FloatVector.fromArray(F, f, j + L);
      a00 = FloatVector.fromArray(F, x, j + d0).fma(w0, a00);
      a01 = FloatVector.fromArray(F, x, j + d0 + L).fma(w1, a01);
      a10 = FloatVector.fromArray(F, x, j + d1).fma(w0, a10);
      a11 = FloatVector.fromArray(F, x, j + d1 + L).fma(w1, a11);
      a20 = FloatVector.fromArray(F, x, j + d2).fma(w0, a20);
      a21 = FloatVector.fromArray(F, x, j + d2 + L).fma(w1, a21);
      a30 = FloatVector.fromArray(F, x, j + d3).fma(w0, a30);
      a31 = FloatVector.fromArray(F, x, j + d3 + L).fma(w1, a31);
    }
    a00.add(a01).intoArray(lanes, 0);
    a10.add(a11).intoArray(lanes, L);
    a20.add(a21).intoArray(lanes, 2 * L);
    a30.add(a31).intoArray(lanes, 3 * L);
    int rows = w.rows();
    y[b * rows + o] = finish(w, x, x0, o, main, lanes, 0);
    y[(b + 1) * rows + o] = finish(w, x, x1, o, main, lanes, L);
    y[(b + 2) * rows + o] = finish(w, x, x2, o, main, lanes, 2 * L);
    y[(b + 3) * rows + o] = finish(w, x, x3, o, main, lanes, 3 * L);
  }

  /**
   * Sums a row's lanes (its two accumulators already added lane-wise) in lane order, then adds the
   * columns past {@code main}.
   */
  private static float finish(
      WeightMatrix w, float[] x, int x0, int o, int main, float[] lanes, int at) {
    float s = 0;
    for (int k = at; k < at + L; k++) {
      s += lanes[k];
    }
    for (int i = main; i < w.cols(); i++) {
      s += x[x0 + i] * w.get(o, i);
    }
    return s;
  }
}
