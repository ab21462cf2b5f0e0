package io.disaggmoe.model.kernel;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Multiplies float32 activations by an F8_E4M3 weight with block scales (DeepSeek-V3's {@code
 * weight_scale_inv}, blocks of 128 columns), held four columns to an int: byte j of int i is column
 * {@code 4i + j}, so shifts and a mask widen each of the four phases of a vector of ints, with no
 * lane-crossing conversion. The activations are split once per call into the four phases to match.
 *
 * <p>The widening: shifted left so that byte j tops the int, an arithmetic shift right by 4 puts
 * the sign at bit 31 and {@code eeee mmm} at bits 26-20, where float32 keeps the exponent's low
 * four bits and the mantissa's top three; a mask clears the rest, and the block's scale times 2^120
 * moves the exponent from E4M3's bias (7) to float32's (127). Denormals come out right by the same
 * multiplication.
 *
 * <p>Every output is summed the same way: one lane-wise accumulator per phase, in column order,
 * added as {@code (p0 + p1) + (p2 + p3)}, then its lanes by halving, then the columns past the last
 * whole 4L; the tile for two rows does exactly that per row, so a row's result does not depend on
 * its batch. As in {@link Bf16MatMul}, the loops run over one array's index, and the two-row tile
 * writes its lane sums out, for the JIT.
 *
 * <p>Against the byte kernel it replaced (16 bytes widened by {@code convertShape} B2I, the scale
 * looked up per block of two vectors), alternated in one process on one thread with weights drawn
 * as a checkpoint's are: 1.7-1.8x at one row, 2.4x at two, level at four and eight. A tile of four
 * rows read 0.73x of two tiles of two. Lanes that hold an E4M3 denormal make a denormal float
 * before the scale's multiplication, which this CPU (Zen 5) takes slowly: with every byte value
 * equally likely (1 in 16 a denormal) both kernels ran at half that speed; quantized weights have
 * few.
 */
final class Fp8MatMul {
  private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
  private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
  private static final int L = F.length();

  /** Columns one vector of ints holds. */
  private static final int SPAN = 4 * L;

  /** Where the sign and {@code eeee mmm} are after the shift right (see the class comment). */
  private static final int BITS = 0x87F00000;

  /** 2^120: moves an E4M3 exponent (bias 7) placed in float bits to float's bias 127. */
  private static final float EXPONENT_SHIFT = 0x1p120f;

  private Fp8MatMul() {}

  /** Whether every vector of ints lies in one block of columns (so has one scale). */
  static boolean supports(WeightMatrix w) {
    return w.blockCols() % SPAN == 0;
  }

  /**
   * Each of {@code n} rows' first {@code 4 * quarter} columns (whole vectors of ints) as four
   * phases: {@code pj[b * quarter + i]} is column {@code 4i + j} of row b. The columns past them
   * are read from {@code x}.
   */
  record Split(float[] p0, float[] p1, float[] p2, float[] p3, int quarter, float[] x, int cols) {}

  static Split split(float[] x, int n, int cols) {
    int quarter = (cols - cols % SPAN) / 4;
    float[][] p = new float[4][n * quarter];
    for (int b = 0; b < n; b++) {
      for (int i = 0; i < quarter; i++) {
        for (int j = 0; j < 4; j++) {
          p[j][b * quarter + i] = x[b * cols + 4 * i + j];
        }
      }
    }
    return new Split(p[0], p[1], p[2], p[3], quarter, x, cols);
  }

  /** {@code y[n, rows] = x · Wᵀ} for outputs {@code [from, to)} of every row. */
  static void multiply(WeightMatrix w, Split xs, int n, float[] y, int from, int to) {
    // Per vector of the row, its block's scale times 2^120: the same for a block's rows, and an
    // array lookup in the loop where a block of 128 columns is only two vectors of 512 bits.
    float[] scales = new float[xs.quarter() / L];
    int blockRows = w.blockRows();
    int filled = -1;
    for (int o = from; o < to; o++) {
      if (o / blockRows != filled) {
        filled = o / blockRows;
        for (int k = 0; k < scales.length; k++) {
          scales[k] = EXPONENT_SHIFT * w.scale(o, k * SPAN);
        }
      }
      int b = 0;
      for (; b + 2 <= n; b += 2) {
        twoRows(w, xs, scales, b, y, o);
      }
      for (; b < n; b++) {
        oneRow(w, xs, scales, b, y, o);
      }
    }
  }

  /** Byte 3 of each int widened and scaled: it already tops the int. */
  private static FloatVector phase3(IntVector v, float scale) {
    return v.lanewise(VectorOperators.ASHR, 4).and(BITS).reinterpretAsFloats().mul(scale);
  }

  /** Byte j of each int ({@code left = 24 - 8j}) widened and scaled. */
  private static FloatVector phase(IntVector v, int left, float scale) {
    return v.lanewise(VectorOperators.LSHL, left)
        .lanewise(VectorOperators.ASHR, 4)
        .and(BITS)
        .reinterpretAsFloats()
        .mul(scale);
  }

  private static void oneRow(WeightMatrix w, Split xs, float[] scales, int b, float[] y, int o) {
    int[] q = w.quads();
    float[] p0 = xs.p0(), p1 = xs.p1(), p2 = xs.p2(), p3 = xs.p3();
    int quarter = xs.quarter();
    int x0 = b * quarter;
    // Columns 4i..4i+3 of the row are in the int at x0 + i + dq.
    int dq = o * w.quadCols() - x0;
    FloatVector z = FloatVector.zero(F);
    FloatVector a0 = z, a1 = z, a2 = z, a3 = z;
    int end = x0 + quarter;
    // The scale of the vector at i is scales[(i - x0) / L].
    int k = 0;
    for (int i = x0; i < end; i += L, k++) {
      float s = scales[k];
      IntVector v = IntVector.fromArray(I, q, i + dq);
      a0 = FloatVector.fromArray(F, p0, i).fma(phase(v, 24, s), a0);
      a1 = FloatVector.fromArray(F, p1, i).fma(phase(v, 16, s), a1);
      a2 = FloatVector.fromArray(F, p2, i).fma(phase(v, 8, s), a2);
      a3 = FloatVector.fromArray(F, p3, i).fma(phase3(v, s), a3);
    }
    float laneSum = Vectors.Simd.sum(a0.add(a1).add(a2.add(a3)));
    y[b * w.rows() + o] = finish(w, xs, b, o, laneSum);
  }

  private static void twoRows(WeightMatrix w, Split xs, float[] scales, int b, float[] y, int o) {
    int[] q = w.quads();
    float[] p0 = xs.p0(), p1 = xs.p1(), p2 = xs.p2(), p3 = xs.p3();
    int quarter = xs.quarter();
    int x0 = b * quarter;
    int dq = o * w.quadCols() - x0;
    int d1 = quarter;
    FloatVector z = FloatVector.zero(F);
    FloatVector a00 = z, a01 = z, a02 = z, a03 = z, a10 = z, a11 = z, a12 = z, a13 = z;
    int end = x0 + quarter;
    int k = 0;
    for (int i = x0; i < end; i += L, k++) {
      float s = scales[k];
      IntVector v = IntVector.fromArray(I, q, i + dq);
      FloatVector w0 = phase(v, 24, s);
      FloatVector w1 = phase(v, 16, s);
      FloatVector w2 = phase(v, 8, s);
      FloatVector w3 = phase3(v, s);
      a00 = FloatVector.fromArray(F, p0, i).fma(w0, a00);
      a01 = FloatVector.fromArray(F, p1, i).fma(w1, a01);
      a02 = FloatVector.fromArray(F, p2, i).fma(w2, a02);
      a03 = FloatVector.fromArray(F, p3, i).fma(w3, a03);
      a10 = FloatVector.fromArray(F, p0, i + d1).fma(w0, a10);
      a11 = FloatVector.fromArray(F, p1, i + d1).fma(w1, a11);
      a12 = FloatVector.fromArray(F, p2, i + d1).fma(w2, a12);
      a13 = FloatVector.fromArray(F, p3, i + d1).fma(w3, a13);
    }
    FloatVector r0 = a00.add(a01).add(a02.add(a03));
    FloatVector r1 = a10.add(a11).add(a12.add(a13));
    // Lanes by halving, as oneRow does, both rows side by side.
    r0 =
        r0.blend(r1, Vectors.Simd.UPPER_HALF)
            .add(r1.blend(r0, Vectors.Simd.UPPER_HALF).rearrange(Vectors.Simd.XOR_HALF));
    r0 = r0.add(r0.rearrange(Vectors.Simd.XOR_QUARTER));
    if (L >= 8) {
      r0 = r0.add(r0.rearrange(Vectors.Simd.XOR_EIGHTH));
    }
    if (L >= 16) {
      r0 = r0.add(r0.rearrange(Vectors.Simd.XOR_SIXTEENTH));
    }
    int rows = w.rows();
    y[b * rows + o] = finish(w, xs, b, o, r0.lane(0));
    y[(b + 1) * rows + o] = finish(w, xs, b + 1, o, r0.lane(L / 2));
  }

  /** {@code laneSum} plus row b's columns past the last whole 4L, in column order. */
  private static float finish(WeightMatrix w, Split xs, int b, int o, float laneSum) {
    float s = laneSum;
    int cols = xs.cols();
    for (int c = 4 * xs.quarter(); c < cols; c++) {
      s += xs.x()[b * cols + c] * w.get(o, c);
    }
    return s;
  }
}
