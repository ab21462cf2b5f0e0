package io.disaggmoe.model.kernel;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Multiplies float32 activations by a BF16 weight held as pairs of columns in one int (the
 * checkpoint's little-endian bytes read as ints): a shift widens the even column, a mask the odd
 * one, with no lane-crossing conversion. The activations are split once per call into their even
 * and odd columns to match.
 *
 * <p>Four parts of a range of outputs (its quarters) are read side by side, and each output of the
 * four is finished for every row, two rows at a time, before the next four are read, so each weight
 * is read from memory once and the later rows find it in L1. On one thread, one output at a time
 * ran at 0.65 of a plain read of the same arrays at one row, four parts at 0.80-0.86: a single
 * stream leaves the core waiting on memory while it computes. At 8 rows this read 5.4 GB/s where
 * tiles of four rows by two outputs (which share each activation load among more outputs) read 3.7.
 *
 * <p>Every output is summed the same way: one lane-wise accumulator over the even columns and one
 * over the odd, in column order, added lane-wise, then their lanes by halving (lane-wise adds of
 * the vector and its rotation, which the API specifies exactly), then the pairs past the last whole
 * vector. Summing the lanes one by one instead cost 9-16% at 8 rows and 15-20% at 32 (both kernels
 * alternated in one process; the same at one row). A row's result therefore does not depend on the
 * rows batched with it, nor on which thread computed its outputs.
 *
 * <p>How the tiles are written for the JIT: their operands are locals and each loop runs over the
 * weight index, the others' indexes offsets from it, so bounds are proved once before the loop
 * instead of checked at every load (a quarter of the time at one row); and the lane sums are
 * written out in each tile rather than called, since in a tile this large a call is not always
 * inlined and a vector passed to one is boxed.
 */
final class Bf16MatMul {
  private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
  private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
  private static final int L = F.length();
  private static final int ODD = 0xFFFF0000;

  /** Parts of a range of outputs read side by side. */
  static final int STREAMS = 4;

  private Bf16MatMul() {}

  /** The low half of each int of {@code v} (a pair's first BF16 value) as a float. */
  static FloatVector even(IntVector v) {
    return v.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
  }

  /** The high half of each int of {@code v} (a pair's second BF16 value) as a float. */
  static FloatVector odd(IntVector v) {
    return v.and(ODD).reinterpretAsFloats();
  }

  /** The even and odd columns of each of {@code n} rows, each row padded to {@code pairs}. */
  record Split(float[] even, float[] odd, int pairs) {}

  static Split split(float[] x, int n, int cols) {
    int pairs = (cols + 1) / 2;
    float[] even = new float[n * pairs];
    float[] odd = new float[n * pairs];
    for (int b = 0; b < n; b++) {
      int src = b * cols;
      int dst = b * pairs;
      for (int p = 0; p < cols / 2; p++) {
        even[dst + p] = x[src + 2 * p];
        odd[dst + p] = x[src + 2 * p + 1];
      }
      if (cols % 2 == 1) {
        even[dst + pairs - 1] = x[src + cols - 1];
      }
    }
    return new Split(even, odd, pairs);
  }

  /** {@code y[n, rows] = x · Wᵀ} for outputs {@code [from, to)} of every row. */
  static void multiply(WeightMatrix w, Split xs, int n, float[] y, int from, int to) {
    Tile t = new Tile(w.pairs(), xs.even(), xs.odd(), xs.pairs(), y, w.rows());
    int q = (to - from) / STREAMS;
    for (int k = 0; k < q; k++) {
      int b = 0;
      for (; b + 2 <= n; b += 2) {
        t.twoRowsFourOutputs(b, from + k, q);
      }
      if (b < n) {
        t.oneRowFourOutputs(b, from + k, q);
      }
    }
    for (int o = from + STREAMS * q; o < to; o++) {
      int b = 0;
      for (; b + 2 <= n; b += 2) {
        t.twoRowsOneOutput(b, o);
      }
      if (b < n) {
        t.oneRowOneOutput(b, o);
      }
    }
  }

  /** One call's operands. */
  private static final class Tile {
    private final int[] w;
    private final float[] xe;
    private final float[] xo;
    private final int pairs;
    private final int main;
    private final float[] y;
    private final int rows;

    Tile(int[] w, float[] xe, float[] xo, int pairs, float[] y, int rows) {
      this.w = w;
      this.xe = xe;
      this.xo = xo;
      this.pairs = pairs;
      this.main = pairs - pairs % L;
      this.y = y;
      this.rows = rows;
    }

    void oneRowOneOutput(int b, int o) {
      int x0 = b * pairs;
      int w0 = o * pairs;
      int[] w = this.w;
      float[] xe = this.xe, xo = this.xo;
      int end = w0 + main;
      FloatVector z = FloatVector.zero(F);
      FloatVector e0 = z, d0 = z;
      int dx = x0 - w0;
      for (int i = w0; i < end; i += L) {
        IntVector v0 = IntVector.fromArray(I, w, i);
        e0 = FloatVector.fromArray(F, xe, i + dx).fma(even(v0), e0);
        d0 = FloatVector.fromArray(F, xo, i + dx).fma(odd(v0), d0);
      }
      FloatVector r0 = e0.add(d0);
      // Lanes by halving, as Vectors.Simd.sum does.
      r0 = r0.add(r0.rearrange(Vectors.Simd.HALF));
      if (L >= 4) {
        r0 = r0.add(r0.rearrange(Vectors.Simd.QUARTER));
      }
      if (L >= 8) {
        r0 = r0.add(r0.rearrange(Vectors.Simd.EIGHTH));
      }
      if (L >= 16) {
        r0 = r0.add(r0.rearrange(Vectors.Simd.SIXTEENTH));
      }
      y[b * rows + o] = finish(r0.lane(0), x0, w0);
    }

    void twoRowsOneOutput(int b, int o) {
      int x0 = b * pairs, x1 = x0 + pairs;
      int w0 = o * pairs;
      int[] w = this.w;
      float[] xe = this.xe, xo = this.xo;
      int end = w0 + main;
      FloatVector z = FloatVector.zero(F);
      FloatVector e0 = z, d0 = z, e1 = z, d1 = z;
      int dx0 = x0 - w0, dx1 = x1 - w0;
      for (int i = w0; i < end; i += L) {
        IntVector v0 = IntVector.fromArray(I, w, i);
        FloatVector we = even(v0), wo = odd(v0);
        e0 = FloatVector.fromArray(F, xe, i + dx0).fma(we, e0);
        d0 = FloatVector.fromArray(F, xo, i + dx0).fma(wo, d0);
        e1 = FloatVector.fromArray(F, xe, i + dx1).fma(we, e1);
        d1 = FloatVector.fromArray(F, xo, i + dx1).fma(wo, d1);
      }
      FloatVector r0 = e0.add(d0);
      FloatVector r1 = e1.add(d1);
      // Lanes by halving, as Vectors.Simd.sum does.
      r0 = r0.add(r0.rearrange(Vectors.Simd.HALF));
      r1 = r1.add(r1.rearrange(Vectors.Simd.HALF));
      if (L >= 4) {
        r0 = r0.add(r0.rearrange(Vectors.Simd.QUARTER));
        r1 = r1.add(r1.rearrange(Vectors.Simd.QUARTER));
      }
      if (L >= 8) {
        r0 = r0.add(r0.rearrange(Vectors.Simd.EIGHTH));
        r1 = r1.add(r1.rearrange(Vectors.Simd.EIGHTH));
      }
      if (L >= 16) {
        r0 = r0.add(r0.rearrange(Vectors.Simd.SIXTEENTH));
        r1 = r1.add(r1.rearrange(Vectors.Simd.SIXTEENTH));
      }
      y[b * rows + o] = finish(r0.lane(0), x0, w0);
      y[(b + 1) * rows + o] = finish(r1.lane(0), x1, w0);
    }

    /** Row {@code b} of outputs {@code o}, {@code o+s}, {@code o+2s} and {@code o+3s}. */
    void oneRowFourOutputs(int b, int o, int s) {
      int x0 = b * pairs;
      int w0 = o * pairs, w1 = w0 + s * pairs, w2 = w1 + s * pairs, w3 = w2 + s * pairs;
      int[] w = this.w;
      float[] xe = this.xe, xo = this.xo;
      int end = w0 + main;
      FloatVector z = FloatVector.zero(F);
      FloatVector e0 = z, d0 = z, e1 = z, d1 = z, e2 = z, d2 = z, e3 = z, d3 = z;
      int dx = x0 - w0, s1 = w1 - w0, s2 = w2 - w0, s3 = w3 - w0;
      for (int i = w0; i < end; i += L) {
        FloatVector xa = FloatVector.fromArray(F, xe, i + dx);
        FloatVector xb = FloatVector.fromArray(F, xo, i + dx);
        IntVector v0 = IntVector.fromArray(I, w, i);
        e0 = xa.fma(even(v0), e0);
        d0 = xb.fma(odd(v0), d0);
        IntVector v1 = IntVector.fromArray(I, w, i + s1);
        e1 = xa.fma(even(v1), e1);
        d1 = xb.fma(odd(v1), d1);
        IntVector v2 = IntVector.fromArray(I, w, i + s2);
        e2 = xa.fma(even(v2), e2);
        d2 = xb.fma(odd(v2), d2);
        IntVector v3 = IntVector.fromArray(I, w, i + s3);
        e3 = xa.fma(even(v3), e3);
        d3 = xb.fma(odd(v3), d3);
      }
      FloatVector r0 = e0.add(d0);
      FloatVector r1 = e1.add(d1);
      FloatVector r2 = e2.add(d2);
      FloatVector r3 = e3.add(d3);
      // The four sums' lanes side by side, as Vectors.Simd.dot4 takes them: outputs o, o+s, o+2s
      // and o+3s end in lanes 0, L/2, L/4 and 3L/4.
      r0 =
          r0.blend(r1, Vectors.Simd.UPPER_HALF)
              .add(r1.blend(r0, Vectors.Simd.UPPER_HALF).rearrange(Vectors.Simd.XOR_HALF));
      r2 =
          r2.blend(r3, Vectors.Simd.UPPER_HALF)
              .add(r3.blend(r2, Vectors.Simd.UPPER_HALF).rearrange(Vectors.Simd.XOR_HALF));
      r0 =
          r0.blend(r2, Vectors.Simd.ODD_QUARTERS)
              .add(r2.blend(r0, Vectors.Simd.ODD_QUARTERS).rearrange(Vectors.Simd.XOR_QUARTER));
      if (L >= 8) {
        r0 = r0.add(r0.rearrange(Vectors.Simd.XOR_EIGHTH));
      }
      if (L >= 16) {
        r0 = r0.add(r0.rearrange(Vectors.Simd.XOR_SIXTEENTH));
      }
      int at = b * rows + o;
      y[at] = finish(r0.lane(0), x0, w0);
      y[at + s] = finish(r0.lane(L / 2), x0, w1);
      y[at + 2 * s] = finish(r0.lane(L / 4), x0, w2);
      y[at + 3 * s] = finish(r0.lane(3 * L / 4), x0, w3);
    }

    /**
     * Rows {@code b} and {@code b+1} of outputs {@code o}, {@code o+s}, {@code o+2s}, {@code o+3s}.
     */
    void twoRowsFourOutputs(int b, int o, int s) {
      int x0 = b * pairs, x1 = x0 + pairs;
      int w0 = o * pairs, w1 = w0 + s * pairs, w2 = w1 + s * pairs, w3 = w2 + s * pairs;
      int[] w = this.w;
      float[] xe = this.xe, xo = this.xo;
      int end = w0 + main;
      FloatVector z = FloatVector.zero(F);
      FloatVector e00 = z, d00 = z, e01 = z, d01 = z, e02 = z, d02 = z, e03 = z, d03 = z;
      FloatVector e10 = z, d10 = z, e11 = z, d11 = z, e12 = z, d12 = z, e13 = z, d13 = z;
      int dx0 = x0 - w0, dx1 = x1 - w0, s1 = w1 - w0, s2 = w2 - w0, s3 = w3 - w0;
      for (int i = w0; i < end; i += L) {
        FloatVector xa0 = FloatVector.fromArray(F, xe, i + dx0),
            xb0 = FloatVector.fromArray(F, xo, i + dx0);
        FloatVector xa1 = FloatVector.fromArray(F, xe, i + dx1),
            xb1 = FloatVector.fromArray(F, xo, i + dx1);
        IntVector v = IntVector.fromArray(I, w, i);
        FloatVector we = even(v), wo = odd(v);
        e00 = xa0.fma(we, e00);
        d00 = xb0.fma(wo, d00);
        e10 = xa1.fma(we, e10);
        d10 = xb1.fma(wo, d10);
        v = IntVector.fromArray(I, w, i + s1);
        we = even(v);
        wo = odd(v);
        e01 = xa0.fma(we, e01);
        d01 = xb0.fma(wo, d01);
        e11 = xa1.fma(we, e11);
        d11 = xb1.fma(wo, d11);
        v = IntVector.fromArray(I, w, i + s2);
        we = even(v);
        wo = odd(v);
        e02 = xa0.fma(we, e02);
        d02 = xb0.fma(wo, d02);
        e12 = xa1.fma(we, e12);
        d12 = xb1.fma(wo, d12);
        v = IntVector.fromArray(I, w, i + s3);
        we = even(v);
        wo = odd(v);
        e03 = xa0.fma(we, e03);
        d03 = xb0.fma(wo, d03);
        e13 = xa1.fma(we, e13);
        d13 = xb1.fma(wo, d13);
      }
      FloatVector r0 = e00.add(d00);
      FloatVector r1 = e01.add(d01);
      FloatVector r2 = e02.add(d02);
      FloatVector r3 = e03.add(d03);
      FloatVector r4 = e10.add(d10);
      FloatVector r5 = e11.add(d11);
      FloatVector r6 = e12.add(d12);
      FloatVector r7 = e13.add(d13);
      // Each row's four sums side by side, as in oneRowFourOutputs.
      r0 =
          r0.blend(r1, Vectors.Simd.UPPER_HALF)
              .add(r1.blend(r0, Vectors.Simd.UPPER_HALF).rearrange(Vectors.Simd.XOR_HALF));
      r2 =
          r2.blend(r3, Vectors.Simd.UPPER_HALF)
              .add(r3.blend(r2, Vectors.Simd.UPPER_HALF).rearrange(Vectors.Simd.XOR_HALF));
      r0 =
          r0.blend(r2, Vectors.Simd.ODD_QUARTERS)
              .add(r2.blend(r0, Vectors.Simd.ODD_QUARTERS).rearrange(Vectors.Simd.XOR_QUARTER));
      r4 =
          r4.blend(r5, Vectors.Simd.UPPER_HALF)
              .add(r5.blend(r4, Vectors.Simd.UPPER_HALF).rearrange(Vectors.Simd.XOR_HALF));
      r6 =
          r6.blend(r7, Vectors.Simd.UPPER_HALF)
              .add(r7.blend(r6, Vectors.Simd.UPPER_HALF).rearrange(Vectors.Simd.XOR_HALF));
      r4 =
          r4.blend(r6, Vectors.Simd.ODD_QUARTERS)
              .add(r6.blend(r4, Vectors.Simd.ODD_QUARTERS).rearrange(Vectors.Simd.XOR_QUARTER));
      if (L >= 8) {
        r0 = r0.add(r0.rearrange(Vectors.Simd.XOR_EIGHTH));
        r4 = r4.add(r4.rearrange(Vectors.Simd.XOR_EIGHTH));
      }
      if (L >= 16) {
        r0 = r0.add(r0.rearrange(Vectors.Simd.XOR_SIXTEENTH));
        r4 = r4.add(r4.rearrange(Vectors.Simd.XOR_SIXTEENTH));
      }
      int at = b * rows + o;
      y[at] = finish(r0.lane(0), x0, w0);
      y[at + s] = finish(r0.lane(L / 2), x0, w1);
      y[at + 2 * s] = finish(r0.lane(L / 4), x0, w2);
      y[at + 3 * s] = finish(r0.lane(3 * L / 4), x0, w3);
      at += rows;
      y[at] = finish(r4.lane(0), x1, w0);
      y[at + s] = finish(r4.lane(L / 2), x1, w1);
      y[at + 2 * s] = finish(r4.lane(L / 4), x1, w2);
      y[at + 3 * s] = finish(r4.lane(3 * L / 4), x1, w3);
    }

    /** {@code laneSum} (an accumulator's lanes, summed) plus the pairs past {@code main}. */
    private float finish(float laneSum, int x0, int w0) {
      float s = laneSum;
      for (int p = main; p < pairs; p++) {
        int v = w[w0 + p];
        s += xe[x0 + p] * Float.intBitsToFloat(v << 16);
        s += xo[x0 + p] * Float.intBitsToFloat(v & ODD);
      }
      return s;
    }
  }
}
