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

  /**
   * Columns per outer pass of the row kernels: F32 weights all {@code main} in one loop; FP8 a
   * block of columns per loop, whose scale holds for all of it (when a block is a whole number of
   * vector pairs; else a pair per loop, each vector with its own block's scale).
   */
  private static int stride(WeightMatrix w, boolean f32, int main) {
    return f32 ? main : w.blockCols() % (2 * L) == 0 ? w.blockCols() : 2 * L;
  }

  /** The FP8 bytes at {@code at} widened to float32 and multiplied by {@code scale}. */
  private static FloatVector fp8(byte[] bytes, int at, float scale) {
    IntVector v =
        (IntVector) ByteVector.fromArray(B, bytes, at).convertShape(VectorOperators.B2I, I, 0);
    IntVector bits =
        v.and(0x80)
            .lanewise(VectorOperators.LSHL, 24)
            .or(v.and(0x7F).lanewise(VectorOperators.LSHL, 20));
    return bits.reinterpretAsFloats().mul(scale);
  }

  // The row kernels' loops run over the weight index, the activations' indexes offsets from it: so
  // the JIT checks bounds once before a loop, not at every load. An FP8 block scale is looked up
  // once per block of columns, not per vector (FP8 1.35-2.0x in one-process A/B, F32 level).

  private static void oneRow(
      WeightMatrix w, int kind, float[] x, int b, float[] y, int o, float[] lanes) {
    int cols = w.cols();
    int main = cols - cols % (2 * L);
    int x0 = b * cols;
    int w0 = o * cols;
    int dx = x0 - w0;
    FloatVector a0 = FloatVector.zero(F);
    FloatVector a1 = a0;
    boolean f32 = kind == KIND_F32;
    int step = stride(w, f32, main);
    for (int from = 0; from < main; from += step) {
      float scale0 = f32 ? 0 : FP8_EXPONENT_SHIFT * w.scale(o, from);
      float scale1 = f32 ? 0 : FP8_EXPONENT_SHIFT * w.scale(o, from + L);
      int end = w0 + Math.min(main, from + step);
      for (int j = w0 + from; j < end; j += 2 * L) {
        FloatVector v0 = f32 ? FloatVector.fromArray(F, w.f32(), j) : fp8(w.fp8(), j, scale0);
        FloatVector v1 =
            f32 ? FloatVector.fromArray(F, w.f32(), j + L) : fp8(w.fp8(), j + L, scale1);
        a0 = FloatVector.fromArray(F, x, j + dx).fma(v0, a0);
        a1 = FloatVector.fromArray(F, x, j + dx + L).fma(v1, a1);
      }
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
    int wo = o * cols;
    int d0 = x0 - wo, d1 = x1 - wo, d2 = x2 - wo, d3 = x3 - wo;
    if (kind == KIND_F32) {
      // A loop of its own: through the FP8 loop's choice of load, F32 ran at 0.7-0.84 of this.
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
    } else {
      byte[] q = w.fp8();
      int step = stride(w, false, main);
      for (int from = 0; from < main; from += step) {
        float scale0 = FP8_EXPONENT_SHIFT * w.scale(o, from);
        float scale1 = FP8_EXPONENT_SHIFT * w.scale(o, from + L);
        int end = wo + Math.min(main, from + step);
        for (int j = wo + from; j < end; j += 2 * L) {
          FloatVector w0 = fp8(q, j, scale0);
          FloatVector w1 = fp8(q, j + L, scale1);
          a00 = FloatVector.fromArray(F, x, j + d0).fma(w0, a00);
          a01 = FloatVector.fromArray(F, x, j + d0 + L).fma(w1, a01);
          a10 = FloatVector.fromArray(F, x, j + d1).fma(w0, a10);
          a11 = FloatVector.fromArray(F, x, j + d1 + L).fma(w1, a11);
          a20 = FloatVector.fromArray(F, x, j + d2).fma(w0, a20);
          a21 = FloatVector.fromArray(F, x, j + d2 + L).fma(w1, a21);
          a30 = FloatVector.fromArray(F, x, j + d3).fma(w0, a30);
          a31 = FloatVector.fromArray(F, x, j + d3 + L).fma(w1, a31);
        }
      }
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
