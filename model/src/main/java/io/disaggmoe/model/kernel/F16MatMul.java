package io.disaggmoe.model.kernel;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Multiplies float32 activations by an F16 weight held as column pairs in tiles of {@link
 * Tiles#TILE} outputs, as BF16 is (see {@link WeightMatrix#ofF16Pairs}): a vector load brings one
 * column pair of a vector's worth of outputs, shifts and a mask widen the even and the odd column,
 * and each row's activation is broadcast against them, every output's sum in its own lane.
 *
 * <p>The widening: an F16 value's sign goes to bit 31 and its exponent and mantissa to bits 27-13,
 * where float32 keeps the exponent's low five bits and the mantissa's top ten. That float is the
 * weight times 2^-112 (F16's exponent bias is 15, float32's 127; F16's subnormals become float32's,
 * exactly). The activations are taken times 2^56 and the sums times 2^56 again, powers of two, so
 * the products stay normal floats. Infinite and NaN weights would widen to finite values, so {@link
 * WeightMatrix#ofF16Pairs} refuses them.
 *
 * <p>Every output is summed the same way, lane-wise, whatever tile and rows compute it: the even
 * columns in one FMA chain and the odd in another, in column order, then {@code (a + b) * 2^56}.
 * {@link #scalar} does the same with {@link Math#fma}, so a row's result does not depend on its
 * batch, its thread or the vector width. Up to four rows share each widened pair; one to three rows
 * read two tiles at once, half their range apart, as BF16's do (two streams, twice the FMA chains).
 * One thread on 1024 x 1024 matrices from memory, against BF16's kernels in the same minutes: one
 * row 16.9 against 18.7 GB/s, two 15.0 against 17.0, three 9.0 against 12.1, four 10.9 against
 * 12.0, eight 6.3 against 7.4.
 *
 * <p>Before this kernel F16 weights went through {@link ScalarMatMul} (one thread, one add a
 * column): batch-1 decode steps of the bench model converted to F16 took 107 ms, 0.08 of their
 * bound; now 15.2 ms at batch 1 (0.53), 49.0 at 8 (0.45) and 103.0 at 32 (0.31), where BF16 took
 * 13.0, 30.2 and 88.3 in the same minutes. A first form with rows as stored and the activations as
 * vectors ran 5-7 GB/s a thread at four rows in L2: C2 unrolled its loop and spilled the
 * activations' vectors to the stack.
 */
final class F16MatMul {
  private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
  private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
  private static final int L = F.length();
  private static final int TILE = Tiles.TILE;

  /** Where the sign and the exponent and mantissa are after the shift right by 3. */
  private static final int BITS = 0x8FFFE000;

  /** 2^56, twice: the activations' factor and the sums' (see the class comment). */
  private static final float HALF_SHIFT = 0x1p56f;

  private F16MatMul() {}

  /**
   * {@code y[n, rows] = x · Wᵀ} for outputs {@code [from, to)} of every row; {@code from} is a
   * multiple of {@link Tiles#TILE}.
   */
  static void multiply(WeightMatrix w, float[] x, int n, float[] y, int from, int to) {
    int[] p = w.halfPairs();
    int cols = w.cols();
    int rows = w.rows();
    int pairs = (cols + 1) / 2;
    int tiled = Math.min(to, w.tiledRows());
    float[] xs = ScaledActivations.of(x, n * cols, HALF_SHIFT);
    int tile = from;
    if (n <= 3) {
      // Up to three rows, light arithmetic for their bytes: tiles two at a time, half the range
      // apart, as BF16 reads them (two streams, and twice the FMA chains); rows two at a time, the
      // third in a second pass over the same tiles, from cache.
      int half = Math.max(0, tiled - from) / TILE / 2;
      int far = half * TILE * pairs;
      for (int k = 0; k < half; k++, tile += TILE) {
        for (int lane = 0; lane < TILE; lane += L) {
          int base = tile * pairs + lane;
          int o = tile + lane;
          int b = 0;
          if (n >= 2) {
            twoOfTwoTiles(p, base, far, cols, xs, 0, y, o, half * TILE, rows);
            b = 2;
          }
          if (b < n) {
            oneOfTwoTiles(p, base, far, cols, xs, b * cols, y, b * rows + o, half * TILE);
          }
        }
      }
      tile += half * TILE;
    }
    for (; tile < tiled; tile += TILE) {
      for (int lane = 0; lane < TILE; lane += L) {
        int base = tile * pairs + lane;
        int o = tile + lane;
        int b = 0;
        for (; b + 4 <= n; b += 4) {
          four(p, base, cols, xs, b * cols, y, b * rows + o, rows);
        }
        for (; b < n; b++) {
          one(p, base, cols, xs, b * cols, y, b * rows + o);
        }
      }
    }
    for (int o = tile; o < to; o++) {
      for (int r = 0; r < n; r++) {
        y[r * rows + o] = scalar(w, x, r * cols, o);
      }
    }
  }

  /**
   * Output {@code o} of the row of {@code x} at {@code x0}, summed as the vector kernel sums it
   * (see the class comment).
   */
  static float scalar(WeightMatrix w, float[] x, int x0, int o) {
    int cols = w.cols();
    int[] p = w.halfPairs();
    float a = 0;
    float b = 0;
    for (int k = 0, whole = cols / 2; k < whole; k++) {
      int v = p[w.heldIndex(o, k)];
      a = Math.fma(x[x0 + 2 * k] * HALF_SHIFT, evenOf(v), a);
      b = Math.fma(x[x0 + 2 * k + 1] * HALF_SHIFT, oddOf(v), b);
    }
    if (cols % 2 == 1) {
      a = Math.fma(x[x0 + cols - 1] * HALF_SHIFT, evenOf(p[w.heldIndex(o, cols / 2)]), a);
    }
    return (a + b) * HALF_SHIFT;
  }

  /** A pair's even column (its low half) as the kernel widens it: the weight times 2^-112. */
  static float evenOf(int v) {
    return Float.intBitsToFloat(((v << 16) >> 3) & BITS);
  }

  /** A pair's odd column (its high half) as the kernel widens it: the weight times 2^-112. */
  static float oddOf(int v) {
    return Float.intBitsToFloat((v >> 3) & BITS);
  }

  private static FloatVector even(IntVector v) {
    return v.lanewise(VectorOperators.LSHL, 16)
        .lanewise(VectorOperators.ASHR, 3)
        .and(BITS)
        .reinterpretAsFloats();
  }

  private static FloatVector odd(IntVector v) {
    return v.lanewise(VectorOperators.ASHR, 3).and(BITS).reinterpretAsFloats();
  }

  /** One row: the lanes of {@code p} from {@code base}, into {@code y} from {@code y0}. */
  private static void one(int[] p, int base, int cols, float[] x, int x0, float[] y, int y0) {
    FloatVector a = FloatVector.zero(F);
    FloatVector b = a;
    int whole = cols / 2;
    for (int k = 0; k < whole; k++) {
      IntVector v = IntVector.fromArray(I, p, base + k * TILE);
      a = FloatVector.broadcast(F, x[x0 + 2 * k]).fma(even(v), a);
      b = FloatVector.broadcast(F, x[x0 + 2 * k + 1]).fma(odd(v), b);
    }
    if (cols % 2 == 1) {
      IntVector v = IntVector.fromArray(I, p, base + whole * TILE);
      a = FloatVector.broadcast(F, x[x0 + cols - 1]).fma(even(v), a);
    }
    a.add(b).mul(HALF_SHIFT).intoArray(y, y0);
  }

  /**
   * One row over two tiles at once, the second {@code far} ints after the first, into {@code y}
   * from {@code y0} and {@code apart} outputs after it: each tile's lanes as {@link #one} sums
   * them.
   */
  private static void oneOfTwoTiles(
      int[] p, int base, int far, int cols, float[] x, int x0, float[] y, int y0, int apart) {
    FloatVector z = FloatVector.zero(F);
    FloatVector a0 = z, b0 = z, a1 = z, b1 = z;
    int whole = cols / 2;
    for (int k = 0; k < whole; k++) {
      int i = base + k * TILE;
      IntVector v = IntVector.fromArray(I, p, i);
      IntVector u = IntVector.fromArray(I, p, i + far);
      FloatVector xe = FloatVector.broadcast(F, x[x0 + 2 * k]);
      FloatVector xo = FloatVector.broadcast(F, x[x0 + 2 * k + 1]);
      a0 = xe.fma(even(v), a0);
      b0 = xo.fma(odd(v), b0);
      a1 = xe.fma(even(u), a1);
      b1 = xo.fma(odd(u), b1);
    }
    if (cols % 2 == 1) {
      int i = base + whole * TILE;
      FloatVector xe = FloatVector.broadcast(F, x[x0 + cols - 1]);
      a0 = xe.fma(even(IntVector.fromArray(I, p, i)), a0);
      a1 = xe.fma(even(IntVector.fromArray(I, p, i + far)), a1);
    }
    a0.add(b0).mul(HALF_SHIFT).intoArray(y, y0);
    a1.add(b1).mul(HALF_SHIFT).intoArray(y, y0 + apart);
  }

  /**
   * Two rows ({@code x0} and {@code cols} after it) over two tiles at once, as {@link
   * #oneOfTwoTiles} takes one, into {@code y} from {@code y0} and {@code ys} after it.
   */
  private static void twoOfTwoTiles(
      int[] p,
      int base,
      int far,
      int cols,
      float[] x,
      int x0,
      float[] y,
      int y0,
      int apart,
      int ys) {
    FloatVector z = FloatVector.zero(F);
    FloatVector a0 = z, b0 = z, a1 = z, b1 = z, c0 = z, d0 = z, c1 = z, d1 = z;
    int x1 = x0 + cols;
    int whole = cols / 2;
    for (int k = 0; k < whole; k++) {
      int i = base + k * TILE;
      int c = 2 * k;
      IntVector v = IntVector.fromArray(I, p, i);
      IntVector u = IntVector.fromArray(I, p, i + far);
      FloatVector ve = even(v), vo = odd(v), ue = even(u), uo = odd(u);
      FloatVector xe = FloatVector.broadcast(F, x[x0 + c]);
      FloatVector xo = FloatVector.broadcast(F, x[x0 + c + 1]);
      a0 = xe.fma(ve, a0);
      b0 = xo.fma(vo, b0);
      a1 = xe.fma(ue, a1);
      b1 = xo.fma(uo, b1);
      xe = FloatVector.broadcast(F, x[x1 + c]);
      xo = FloatVector.broadcast(F, x[x1 + c + 1]);
      c0 = xe.fma(ve, c0);
      d0 = xo.fma(vo, d0);
      c1 = xe.fma(ue, c1);
      d1 = xo.fma(uo, d1);
    }
    if (cols % 2 == 1) {
      int i = base + whole * TILE;
      FloatVector ve = even(IntVector.fromArray(I, p, i));
      FloatVector ue = even(IntVector.fromArray(I, p, i + far));
      a0 = FloatVector.broadcast(F, x[x0 + cols - 1]).fma(ve, a0);
      a1 = FloatVector.broadcast(F, x[x0 + cols - 1]).fma(ue, a1);
      c0 = FloatVector.broadcast(F, x[x1 + cols - 1]).fma(ve, c0);
      c1 = FloatVector.broadcast(F, x[x1 + cols - 1]).fma(ue, c1);
    }
    a0.add(b0).mul(HALF_SHIFT).intoArray(y, y0);
    a1.add(b1).mul(HALF_SHIFT).intoArray(y, y0 + apart);
    c0.add(d0).mul(HALF_SHIFT).intoArray(y, y0 + ys);
    c1.add(d1).mul(HALF_SHIFT).intoArray(y, y0 + ys + apart);
  }

  /**
   * Four rows, {@code cols} apart from {@code x0}, into {@code y} from {@code y0}, {@code ys}
   * apart.
   */
  private static void four(
      int[] p, int base, int cols, float[] x, int x0, float[] y, int y0, int ys) {
    FloatVector z = FloatVector.zero(F);
    FloatVector a0 = z, b0 = z, a1 = z, b1 = z, a2 = z, b2 = z, a3 = z, b3 = z;
    int x1 = x0 + cols;
    int x2 = x1 + cols;
    int x3 = x2 + cols;
    int whole = cols / 2;
    for (int k = 0; k < whole; k++) {
      int c = 2 * k;
      IntVector v = IntVector.fromArray(I, p, base + k * TILE);
      FloatVector ve = even(v), vo = odd(v);
      a0 = FloatVector.broadcast(F, x[x0 + c]).fma(ve, a0);
      b0 = FloatVector.broadcast(F, x[x0 + c + 1]).fma(vo, b0);
      a1 = FloatVector.broadcast(F, x[x1 + c]).fma(ve, a1);
      b1 = FloatVector.broadcast(F, x[x1 + c + 1]).fma(vo, b1);
      a2 = FloatVector.broadcast(F, x[x2 + c]).fma(ve, a2);
      b2 = FloatVector.broadcast(F, x[x2 + c + 1]).fma(vo, b2);
      a3 = FloatVector.broadcast(F, x[x3 + c]).fma(ve, a3);
      b3 = FloatVector.broadcast(F, x[x3 + c + 1]).fma(vo, b3);
    }
    if (cols % 2 == 1) {
      FloatVector ve = even(IntVector.fromArray(I, p, base + whole * TILE));
      int c = cols - 1;
      a0 = FloatVector.broadcast(F, x[x0 + c]).fma(ve, a0);
      a1 = FloatVector.broadcast(F, x[x1 + c]).fma(ve, a1);
      a2 = FloatVector.broadcast(F, x[x2 + c]).fma(ve, a2);
      a3 = FloatVector.broadcast(F, x[x3 + c]).fma(ve, a3);
    }
    a0.add(b0).mul(HALF_SHIFT).intoArray(y, y0);
    a1.add(b1).mul(HALF_SHIFT).intoArray(y, y0 + ys);
    a2.add(b2).mul(HALF_SHIFT).intoArray(y, y0 + 2 * ys);
    a3.add(b3).mul(HALF_SHIFT).intoArray(y, y0 + 3 * ys);
  }
}
