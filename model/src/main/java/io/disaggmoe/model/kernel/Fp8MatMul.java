package io.disaggmoe.model.kernel;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Multiplies float32 activations by an F8_E4M3 weight with block scales (DeepSeek-V3's {@code
 * weight_scale_inv}, blocks of 128 x 128) held four columns to an int, byte j of an output's int i
 * its column {@code 4i + j}, in tiles of {@link Tiles#TILE} outputs as BF16 is (see {@link
 * WeightMatrix#ofFp8Quads}): a vector load brings four columns of a vector's worth of outputs,
 * shifts and a mask widen each of the four bytes, and each row's activation is broadcast against
 * them, every output's sum in its own lane.
 *
 * <p>The widening: shifted left so that byte j tops the int, an arithmetic shift right by 4 puts
 * the sign at bit 31 and {@code eeee mmm} at bits 26-20, where float32 keeps the exponent's low
 * four bits and the mantissa's top three; a mask clears the rest, and the block's scale times 2^120
 * moves the exponent from E4M3's bias (7) to float32's (127). Denormals come out right by the same
 * multiplication. A tile's scales are one vector per block of columns, a lane per output, so block
 * rows of any height work.
 *
 * <p>Every output is summed the same way, lane-wise, whatever tile computes it: one accumulator per
 * byte of the int, an FMA chain in column order, then {@code (a + b) + (c + d)}; {@link #scalar}
 * does the same with {@link Math#fma}, so a row's result does not depend on its batch, its thread
 * or the vector width.
 *
 * <p>Against the layout it replaced (rows as stored, the activations split into four phases and
 * each output's lanes summed), both held and switched every 8 steps in one process on the FP8 bench
 * model, two runs: batch 1 1.00-1.08x, batch 8 1.34-1.74x, batch 32 1.48-1.60x. One thread on 512 x
 * 1024 matrices from memory: 1.6-2.5x at one row, 2-4x at two to eight; in L1 2.4x at one row.
 * Filling a tile's scales element by element (two divisions each) had cost as much as its
 * arithmetic; they are now filled once per block row.
 */
final class Fp8MatMul {
  private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
  private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
  private static final int L = F.length();
  private static final int TILE = Tiles.TILE;

  /** Where the sign and {@code eeee mmm} are after the shift right (see the class comment). */
  private static final int BITS = 0x87F00000;

  /** 2^120: moves an E4M3 exponent (bias 7) placed in float bits to float's bias 127. */
  private static final float EXPONENT_SHIFT = 0x1p120f;

  /**
   * From this many rows, tiles are read ahead as in {@link Bf16MatMul}. FP8's widening doubles the
   * tiles' arithmetic per byte, and reading ahead puts the reads and that arithmetic in series, so
   * it pays only from more rows than for BF16. One thread, 1024 x 1024 from memory: 1.3-1.4x at
   * eight rows, 1.1-1.3x at 16, 1.1x at 32, level at four and 0.6-0.7x at one to three. Whole
   * decode steps on the FP8 bench model, switched every 8 steps in one process: batch 8 1.07-1.10x,
   * batch 32 1.01-1.08x.
   */
  static final int READ_AHEAD_ROWS = 8;

  /** Where read-ahead sums go, so that the JIT keeps the loads. */
  @SuppressWarnings("unused")
  private static int readAheadSink;

  private Fp8MatMul() {}

  /** Whether a block of columns holds whole ints (four columns each), so an int has one scale. */
  static boolean supports(WeightMatrix w) {
    return w.blockCols() % 4 == 0;
  }

  /**
   * {@code y[n, rows] = x · Wᵀ} for outputs {@code [from, to)} of every row; {@code from} is a
   * multiple of {@link Tiles#TILE}.
   */
  static void multiply(WeightMatrix w, float[] x, int n, float[] y, int from, int to) {
    int[] q = w.quads();
    int cols = w.cols();
    int rows = w.rows();
    int quadCols = w.quadCols();
    int blockCols = w.blockCols();
    int blocks = (cols + blockCols - 1) / blockCols;
    int tiled = Math.min(to, w.tiledRows());
    // Per block of columns, a lane per output: its scale times 2^120. Filled again only when a
    // tile's block rows differ from the last tile's (every tile, where blocks cut tiles).
    float[] scales = new float[blocks * TILE];
    int blockRows = w.blockRows();
    int filled = -1;
    int tile = from;
    int ahead = n >= READ_AHEAD_ROWS ? Tiles.readAheadTiles(quadCols) : 0;
    int sink = 0;
    // Vectors wider than a tile (none for 32-bit lanes today) leave it all to the scalar form.
    for (; tile < tiled && L <= TILE; tile += TILE) {
      if (ahead > 0 && (tile - from) % (ahead * TILE) == 0) {
        sink +=
            Bf16MatMul.readAhead(
                q, tile * quadCols, Math.min(tiled, tile + ahead * TILE) * quadCols);
      }
      int key = blockRows % TILE == 0 ? tile / blockRows : tile;
      if (key != filled) {
        filled = key;
        for (int j = 0; j < TILE; j++) {
          w.blockScales(tile + j, EXPONENT_SHIFT, scales, j, TILE);
        }
      }
      for (int lane = 0; lane < TILE; lane += L) {
        int base = tile * quadCols + lane;
        int o = tile + lane;
        int b = 0;
        for (; b + 4 <= n; b += 4) {
          four(q, base, cols, blockCols, scales, lane, x, b * cols, cols, y, b * rows + o, rows);
        }
        switch (n - b) {
          case 3 ->
              three(
                  q, base, cols, blockCols, scales, lane, x, b * cols, cols, y, b * rows + o, rows);
          case 2 ->
              two(q, base, cols, blockCols, scales, lane, x, b * cols, cols, y, b * rows + o, rows);
          case 1 -> one(q, base, cols, blockCols, scales, lane, x, b * cols, y, b * rows + o);
          default -> {}
        }
      }
    }
    for (int o = tile; o < to; o++) {
      for (int r = 0; r < n; r++) {
        y[r * rows + o] = scalar(w, x, r * cols, o);
      }
    }
    if (ahead > 0) {
      readAheadSink = sink;
    }
  }

  /**
   * Byte j of each int ({@code left = 24 - 8j}) widened, times {@code scale}. The product is an FMA
   * with zero rather than a multiplication: E4M3's subnormals widen to float subnormals, and Zen 3
   * takes a slow path for a multiplication's subnormal input but not for an FMA's. In L2, one
   * thread, tiles of random bytes (one in sixteen subnormal): 22-26 GFLOP/s from one to sixteen
   * rows against 11-15, what normal bytes alone run either way. Same bits: the product rounds once
   * either way, and its zeros' sign cannot change the sums it feeds, which start at +0.
   */
  private static FloatVector widen(IntVector v, int left, FloatVector scale) {
    IntVector top = left == 0 ? v : v.lanewise(VectorOperators.LSHL, left);
    return top.lanewise(VectorOperators.ASHR, 4)
        .and(BITS)
        .reinterpretAsFloats()
        .fma(scale, FloatVector.zero(F));
  }

  /** Byte j of {@code v} ({@code left = 24 - 8j}) widened as {@link #widen} does, unscaled. */
  private static float widen(int v, int left) {
    return Float.intBitsToFloat(((v << left) >> 4) & BITS);
  }

  /** One row: the lanes of {@code q} from {@code base}, a block of columns at a time. */
  private static void one(
      int[] q,
      int base,
      int cols,
      int blockCols,
      float[] scales,
      int lane,
      float[] x,
      int x0,
      float[] y,
      int y0) {
    FloatVector z = FloatVector.zero(F);
    FloatVector a0 = z, b0 = z, c0 = z, d0 = z;
    int whole = cols / 4 * 4;
    for (int first = 0; first < cols; first += blockCols) {
      FloatVector s = FloatVector.fromArray(F, scales, first / blockCols * TILE + lane);
      int last = Math.min(first + blockCols, whole);
      int i = base + first / 4 * TILE;
      for (int c = first; c < last; c += 4, i += TILE) {
        IntVector v = IntVector.fromArray(I, q, i);
        FloatVector w0 = widen(v, 24, s),
            w1 = widen(v, 16, s),
            w2 = widen(v, 8, s),
            w3 = widen(v, 0, s);
        a0 = FloatVector.broadcast(F, x[x0 + c]).fma(w0, a0);
        b0 = FloatVector.broadcast(F, x[x0 + c + 1]).fma(w1, b0);
        c0 = FloatVector.broadcast(F, x[x0 + c + 2]).fma(w2, c0);
        d0 = FloatVector.broadcast(F, x[x0 + c + 3]).fma(w3, d0);
      }
      if (last < first + blockCols && whole < cols) {
        // The last int's columns that exist.
        int c = whole;
        IntVector v = IntVector.fromArray(I, q, i);
        a0 = FloatVector.broadcast(F, x[x0 + c]).fma(widen(v, 24, s), a0);
        if (cols - whole > 1) {
          b0 = FloatVector.broadcast(F, x[x0 + c + 1]).fma(widen(v, 16, s), b0);
        }
        if (cols - whole > 2) {
          c0 = FloatVector.broadcast(F, x[x0 + c + 2]).fma(widen(v, 8, s), c0);
        }
      }
    }
    a0.add(b0).add(c0.add(d0)).intoArray(y, y0);
  }

  /**
   * Two rows, {@code xs} and {@code ys} apart in {@code x} and {@code y}: the lanes of {@code q}
   * from {@code base}, a block of columns at a time.
   */
  private static void two(
      int[] q,
      int base,
      int cols,
      int blockCols,
      float[] scales,
      int lane,
      float[] x,
      int x0,
      int xs,
      float[] y,
      int y0,
      int ys) {
    FloatVector z = FloatVector.zero(F);
    FloatVector a0 = z, b0 = z, c0 = z, d0 = z;
    FloatVector a1 = z, b1 = z, c1 = z, d1 = z;
    int x1 = x0 + xs;
    int whole = cols / 4 * 4;
    for (int first = 0; first < cols; first += blockCols) {
      FloatVector s = FloatVector.fromArray(F, scales, first / blockCols * TILE + lane);
      int last = Math.min(first + blockCols, whole);
      int i = base + first / 4 * TILE;
      for (int c = first; c < last; c += 4, i += TILE) {
        IntVector v = IntVector.fromArray(I, q, i);
        FloatVector w0 = widen(v, 24, s),
            w1 = widen(v, 16, s),
            w2 = widen(v, 8, s),
            w3 = widen(v, 0, s);
        a0 = FloatVector.broadcast(F, x[x0 + c]).fma(w0, a0);
        b0 = FloatVector.broadcast(F, x[x0 + c + 1]).fma(w1, b0);
        c0 = FloatVector.broadcast(F, x[x0 + c + 2]).fma(w2, c0);
        d0 = FloatVector.broadcast(F, x[x0 + c + 3]).fma(w3, d0);
        a1 = FloatVector.broadcast(F, x[x1 + c]).fma(w0, a1);
        b1 = FloatVector.broadcast(F, x[x1 + c + 1]).fma(w1, b1);
        c1 = FloatVector.broadcast(F, x[x1 + c + 2]).fma(w2, c1);
        d1 = FloatVector.broadcast(F, x[x1 + c + 3]).fma(w3, d1);
      }
      if (last < first + blockCols && whole < cols) {
        // The last int's columns that exist.
        int c = whole;
        IntVector v = IntVector.fromArray(I, q, i);
        FloatVector ea = widen(v, 24, s);
        a0 = FloatVector.broadcast(F, x[x0 + c]).fma(ea, a0);
        a1 = FloatVector.broadcast(F, x[x1 + c]).fma(ea, a1);
        if (cols - whole > 1) {
          FloatVector eb = widen(v, 16, s);
          b0 = FloatVector.broadcast(F, x[x0 + c + 1]).fma(eb, b0);
          b1 = FloatVector.broadcast(F, x[x1 + c + 1]).fma(eb, b1);
        }
        if (cols - whole > 2) {
          FloatVector ec = widen(v, 8, s);
          c0 = FloatVector.broadcast(F, x[x0 + c + 2]).fma(ec, c0);
          c1 = FloatVector.broadcast(F, x[x1 + c + 2]).fma(ec, c1);
        }
      }
    }
    a0.add(b0).add(c0.add(d0)).intoArray(y, y0);
    a1.add(b1).add(c1.add(d1)).intoArray(y, y0 + ys);
  }

  /** Three rows: the lanes of {@code q} from {@code base}, a block of columns at a time. */
  private static void three(
      int[] q,
      int base,
      int cols,
      int blockCols,
      float[] scales,
      int lane,
      float[] x,
      int x0,
      int xs,
      float[] y,
      int y0,
      int ys) {
    FloatVector z = FloatVector.zero(F);
    FloatVector a0 = z, b0 = z, c0 = z, d0 = z;
    FloatVector a1 = z, b1 = z, c1 = z, d1 = z;
    FloatVector a2 = z, b2 = z, c2 = z, d2 = z;
    int x1 = x0 + xs;
    int x2 = x0 + 2 * xs;
    int whole = cols / 4 * 4;
    for (int first = 0; first < cols; first += blockCols) {
      FloatVector s = FloatVector.fromArray(F, scales, first / blockCols * TILE + lane);
      int last = Math.min(first + blockCols, whole);
      int i = base + first / 4 * TILE;
      for (int c = first; c < last; c += 4, i += TILE) {
        IntVector v = IntVector.fromArray(I, q, i);
        FloatVector w0 = widen(v, 24, s),
            w1 = widen(v, 16, s),
            w2 = widen(v, 8, s),
            w3 = widen(v, 0, s);
        a0 = FloatVector.broadcast(F, x[x0 + c]).fma(w0, a0);
        b0 = FloatVector.broadcast(F, x[x0 + c + 1]).fma(w1, b0);
        c0 = FloatVector.broadcast(F, x[x0 + c + 2]).fma(w2, c0);
        d0 = FloatVector.broadcast(F, x[x0 + c + 3]).fma(w3, d0);
        a1 = FloatVector.broadcast(F, x[x1 + c]).fma(w0, a1);
        b1 = FloatVector.broadcast(F, x[x1 + c + 1]).fma(w1, b1);
        c1 = FloatVector.broadcast(F, x[x1 + c + 2]).fma(w2, c1);
        d1 = FloatVector.broadcast(F, x[x1 + c + 3]).fma(w3, d1);
        a2 = FloatVector.broadcast(F, x[x2 + c]).fma(w0, a2);
        b2 = FloatVector.broadcast(F, x[x2 + c + 1]).fma(w1, b2);
        c2 = FloatVector.broadcast(F, x[x2 + c + 2]).fma(w2, c2);
        d2 = FloatVector.broadcast(F, x[x2 + c + 3]).fma(w3, d2);
      }
      if (last < first + blockCols && whole < cols) {
        // The last int's columns that exist.
        int c = whole;
        IntVector v = IntVector.fromArray(I, q, i);
        FloatVector ea = widen(v, 24, s);
        a0 = FloatVector.broadcast(F, x[x0 + c]).fma(ea, a0);
        a1 = FloatVector.broadcast(F, x[x1 + c]).fma(ea, a1);
        a2 = FloatVector.broadcast(F, x[x2 + c]).fma(ea, a2);
        if (cols - whole > 1) {
          FloatVector eb = widen(v, 16, s);
          b0 = FloatVector.broadcast(F, x[x0 + c + 1]).fma(eb, b0);
          b1 = FloatVector.broadcast(F, x[x1 + c + 1]).fma(eb, b1);
          b2 = FloatVector.broadcast(F, x[x2 + c + 1]).fma(eb, b2);
        }
        if (cols - whole > 2) {
          FloatVector ec = widen(v, 8, s);
          c0 = FloatVector.broadcast(F, x[x0 + c + 2]).fma(ec, c0);
          c1 = FloatVector.broadcast(F, x[x1 + c + 2]).fma(ec, c1);
          c2 = FloatVector.broadcast(F, x[x2 + c + 2]).fma(ec, c2);
        }
      }
    }
    a0.add(b0).add(c0.add(d0)).intoArray(y, y0);
    a1.add(b1).add(c1.add(d1)).intoArray(y, y0 + ys);
    a2.add(b2).add(c2.add(d2)).intoArray(y, y0 + 2 * ys);
  }

  /** Four rows: the lanes of {@code q} from {@code base}, a block of columns at a time. */
  private static void four(
      int[] q,
      int base,
      int cols,
      int blockCols,
      float[] scales,
      int lane,
      float[] x,
      int x0,
      int xs,
      float[] y,
      int y0,
      int ys) {
    FloatVector z = FloatVector.zero(F);
    FloatVector a0 = z, b0 = z, c0 = z, d0 = z;
    FloatVector a1 = z, b1 = z, c1 = z, d1 = z;
    FloatVector a2 = z, b2 = z, c2 = z, d2 = z;
    FloatVector a3 = z, b3 = z, c3 = z, d3 = z;
    int x1 = x0 + xs;
    int x2 = x0 + 2 * xs;
    int x3 = x0 + 3 * xs;
    int whole = cols / 4 * 4;
    for (int first = 0; first < cols; first += blockCols) {
      FloatVector s = FloatVector.fromArray(F, scales, first / blockCols * TILE + lane);
      int last = Math.min(first + blockCols, whole);
      int i = base + first / 4 * TILE;
      for (int c = first; c < last; c += 4, i += TILE) {
        IntVector v = IntVector.fromArray(I, q, i);
        FloatVector w0 = widen(v, 24, s),
            w1 = widen(v, 16, s),
            w2 = widen(v, 8, s),
            w3 = widen(v, 0, s);
        a0 = FloatVector.broadcast(F, x[x0 + c]).fma(w0, a0);
        b0 = FloatVector.broadcast(F, x[x0 + c + 1]).fma(w1, b0);
        c0 = FloatVector.broadcast(F, x[x0 + c + 2]).fma(w2, c0);
        d0 = FloatVector.broadcast(F, x[x0 + c + 3]).fma(w3, d0);
        a1 = FloatVector.broadcast(F, x[x1 + c]).fma(w0, a1);
        b1 = FloatVector.broadcast(F, x[x1 + c + 1]).fma(w1, b1);
        c1 = FloatVector.broadcast(F, x[x1 + c + 2]).fma(w2, c1);
        d1 = FloatVector.broadcast(F, x[x1 + c + 3]).fma(w3, d1);
        a2 = FloatVector.broadcast(F, x[x2 + c]).fma(w0, a2);
        b2 = FloatVector.broadcast(F, x[x2 + c + 1]).fma(w1, b2);
        c2 = FloatVector.broadcast(F, x[x2 + c + 2]).fma(w2, c2);
        d2 = FloatVector.broadcast(F, x[x2 + c + 3]).fma(w3, d2);
        a3 = FloatVector.broadcast(F, x[x3 + c]).fma(w0, a3);
        b3 = FloatVector.broadcast(F, x[x3 + c + 1]).fma(w1, b3);
        c3 = FloatVector.broadcast(F, x[x3 + c + 2]).fma(w2, c3);
        d3 = FloatVector.broadcast(F, x[x3 + c + 3]).fma(w3, d3);
      }
      if (last < first + blockCols && whole < cols) {
        // The last int's columns that exist.
        int c = whole;
        IntVector v = IntVector.fromArray(I, q, i);
        FloatVector ea = widen(v, 24, s);
        a0 = FloatVector.broadcast(F, x[x0 + c]).fma(ea, a0);
        a1 = FloatVector.broadcast(F, x[x1 + c]).fma(ea, a1);
        a2 = FloatVector.broadcast(F, x[x2 + c]).fma(ea, a2);
        a3 = FloatVector.broadcast(F, x[x3 + c]).fma(ea, a3);
        if (cols - whole > 1) {
          FloatVector eb = widen(v, 16, s);
          b0 = FloatVector.broadcast(F, x[x0 + c + 1]).fma(eb, b0);
          b1 = FloatVector.broadcast(F, x[x1 + c + 1]).fma(eb, b1);
          b2 = FloatVector.broadcast(F, x[x2 + c + 1]).fma(eb, b2);
          b3 = FloatVector.broadcast(F, x[x3 + c + 1]).fma(eb, b3);
        }
        if (cols - whole > 2) {
          FloatVector ec = widen(v, 8, s);
          c0 = FloatVector.broadcast(F, x[x0 + c + 2]).fma(ec, c0);
          c1 = FloatVector.broadcast(F, x[x1 + c + 2]).fma(ec, c1);
          c2 = FloatVector.broadcast(F, x[x2 + c + 2]).fma(ec, c2);
          c3 = FloatVector.broadcast(F, x[x3 + c + 2]).fma(ec, c3);
        }
      }
    }
    a0.add(b0).add(c0.add(d0)).intoArray(y, y0);
    a1.add(b1).add(c1.add(d1)).intoArray(y, y0 + ys);
    a2.add(b2).add(c2.add(d2)).intoArray(y, y0 + 2 * ys);
    a3.add(b3).add(c3.add(d3)).intoArray(y, y0 + 3 * ys);
  }

  /**
   * Output {@code o} of the row of {@code x} at {@code x0}, summed as the vector tiles sum each
   * lane.
   */
  static float scalar(WeightMatrix w, float[] x, int x0, int o) {
    int[] q = w.quads();
    int cols = w.cols();
    float[] acc = new float[4];
    for (int c = 0; c < cols; c++) {
      int j = c % 4;
      float s = EXPONENT_SHIFT * w.scale(o, c);
      float weight = widen(q[w.heldIndex(o, c / 4)], 24 - 8 * j) * s;
      acc[j] = Math.fma(x[x0 + c], weight, acc[j]);
    }
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
  }
}
