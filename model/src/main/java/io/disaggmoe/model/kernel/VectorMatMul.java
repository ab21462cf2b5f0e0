package io.disaggmoe.model.kernel;

import io.disaggmoe.model.weights.DType;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Multiplies float32 activations by a weight held as float32 or block-scaled FP8, widening each
 * weight vector in registers: the weights are read once per call, whatever the row count (BF16 has
 * its own kernel, {@link Bf16MatMul}).
 *
 * <p>Every output is summed the same way whatever else is in the batch: two lane-wise accumulators
 * over alternate vectors of the row, in column order, added lane-wise, then their lanes one by one,
 * then the columns past the last whole pair of vectors. The kernel for one row and the one for four
 * rows do exactly that, so a row's result does not depend on its batch (batch invariance).
 */
final class VectorMatMul {
  private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
  private static final VectorSpecies<Integer> I =
      VectorSpecies.of(int.class, VectorShape.forBitSize(F.vectorBitSize()));
  private static final VectorSpecies<Byte> B =
      VectorSpecies.of(byte.class, VectorShape.forBitSize(F.vectorBitSize() / 4));
  private static final int L = F.length();

  /** 2^120: moves an E4M3 exponent (bias 7) placed in float bits to float's bias 127. */
  private static final float FP8_EXPONENT_SHIFT = 0x1p120f;

  private static final int KIND_F32 = 0;
  private static final int KIND_FP8 = 2;

  private VectorMatMul() {}

  /**
   * Whether a vector kernel reads {@code w}'s dtype and layout, this one or {@link Bf16MatMul}
   * (else the scalar kernel does).
   */
  static boolean supports(WeightMatrix w) {
    return switch (w.dtype()) {
      case F32, BF16 -> true;
      case F8_E4M3 -> w.blockCols() % L == 0;
      default -> false;
    };
  }

  /** {@code y[n, rows] = x[n, cols] · Wᵀ} for output rows {@code [from, to)}. */
  static void multiply(WeightMatrix w, float[] x, int n, float[] y, int from, int to) {
    int kind = kind(w.dtype());
    float[] lanes = new float[4 * L];
    for (int o = from; o < to; o++) {
      int b = 0;
      for (; b + 4 <= n; b += 4) {
        fourRows(w, kind, x, b, y, o, lanes);
      }
      for (; b < n; b++) {
        oneRow(w, kind, x, b, y, o, lanes);
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

  private static int kind(DType dtype) {
    return switch (dtype) {
      case F32 -> KIND_F32;
      case F8_E4M3 -> KIND_FP8;
      default -> throw new IllegalArgumentException("no vector kernel for " + dtype);
    };
  }

  private static FloatVector load(WeightMatrix w, int kind, int o, int col) {
    int at = o * w.cols() + col;
    if (kind == KIND_F32) {
      return FloatVector.fromArray(F, w.f32(), at);
    }
    IntVector v =
        (IntVector) ByteVector.fromArray(B, w.fp8(), at).convertShape(VectorOperators.B2I, I, 0);
    IntVector bits =
        v.and(0x80)
            .lanewise(VectorOperators.LSHL, 24)
            .or(v.and(0x7F).lanewise(VectorOperators.LSHL, 20));
    return bits.reinterpretAsFloats().mul(FP8_EXPONENT_SHIFT * w.scale(o, col));
  }

  private static void oneRow(
      WeightMatrix w, int kind, float[] x, int b, float[] y, int o, float[] lanes) {
    int cols = w.cols();
    int main = cols - cols % (2 * L);
    int x0 = b * cols;
    FloatVector a0 = FloatVector.zero(F);
    FloatVector a1 = a0;
    for (int i = 0; i < main; i += 2 * L) {
      a0 = FloatVector.fromArray(F, x, x0 + i).fma(load(w, kind, o, i), a0);
      a1 = FloatVector.fromArray(F, x, x0 + i + L).fma(load(w, kind, o, i + L), a1);
    }
    a0.add(a1).intoArray(lanes, 0);
    y[b * w.rows() + o] = finish(w, x, x0, o, main, lanes, 0);
  }

  private static void fourRows(
      WeightMatrix w, int kind, float[] x, int b, float[] y, int o, float[] lanes) {
    int cols = w.cols();
    int main = cols - cols % (2 * L);
    int x0 = b * cols;
    int x1 = x0 + cols;
    int x2 = x1 + cols;
    int x3 = x2 + cols;
    FloatVector z = FloatVector.zero(F);
    FloatVector a00 = z, a01 = z, a10 = z, a11 = z, a20 = z, a21 = z, a30 = z, a31 = z;
    for (int i = 0; i < main; i += 2 * L) {
      FloatVector w0 = load(w, kind, o, i);
      FloatVector w1 = load(w, kind, o, i + L);
      a00 = FloatVector.fromArray(F, x, x0 + i).fma(w0, a00);
      a01 = FloatVector.fromArray(F, x, x0 + i + L).fma(w1, a01);
      a10 = FloatVector.fromArray(F, x, x1 + i).fma(w0, a10);
      a11 = FloatVector.fromArray(F, x, x1 + i + L).fma(w1, a11);
      a20 = FloatVector.fromArray(F, x, x2 + i).fma(w0, a20);
      a21 = FloatVector.fromArray(F, x, x2 + i + L).fma(w1, a21);
      a30 = FloatVector.fromArray(F, x, x3 + i).fma(w0, a30);
      a31 = FloatVector.fromArray(F, x, x3 + i + L).fma(w1, a31);
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
