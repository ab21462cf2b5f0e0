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
 * four bits and the mantissa's top three; a mask clears the rest. That float is the weight times
 * 2^-120 (E4M3's exponent bias is 7, float32's 127; E4M3's subnormals become float32's). The block
 * scale is applied once per block of columns, to the block's sum, not to each weight, and the
 * activations are taken times 2^60 so that those sums stay normal floats; the scales carry the
 * other 2^60. A tile's scales are one vector per block of columns, a lane per output, so block rows
 * of any height work.
 *
 * <p>Every output is summed the same way, lane-wise, whatever tile computes it: in each block of
 * columns, two FMA chains in column order (even columns, odd columns), then {@code acc = fma(a + b,
 * scale, acc)}; the columns past the last whole int (four columns) last, the same way, with the
 * last block's scale. {@link #scalar} does the same with {@link Math#fma}, so a row's result does
 * not depend on its batch, its thread or the vector width. Against one chain per byte with each
 * weight scaled (the multiplication per weight, four chains a row, tiles of four rows that spilled
 * accumulators on AVX2): in L2, one thread, 22-29 GFLOP/s at any row count before.
 *
 * <p>Four rows go together on AVX2 too ({@link #four}): their block sums wait in the output array
 * between blocks, so that only the block's eight chains, the widened weights and a broadcast hold
 * registers (with the block sums in registers, twelve sums did not fit AVX2's 16, and rows went two
 * at a time, each int widened again for every pair). FP8 decode on the bench model, alternated
 * every 2 steps in one process against pairs, medians: batch 8 27.39/30.66 and 27.61/31.55 ms,
 * batch 32 90.44/107.85 and 92.30/109.99.
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

  /**
   * 2^60, twice: the activations' factor and the scales' factor, which together move an E4M3
   * exponent (bias 7) placed in float bits to float's bias 127 (see the class comment).
   */
  private static final float HALF_SHIFT = 0x1p60f;

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
    // Per block of columns, a lane per output: its scale times 2^60. Filled again only when a
    // tile's block rows differ from the last tile's (every tile, where blocks cut tiles).
    float[] scales = new float[blocks * TILE];
    int filled = -1;
    int tile = from;
    int ahead = n >= READ_AHEAD_ROWS ? Tiles.readAheadTiles(quadCols) : 0;
    int sink = 0;
    float[] xs = ScaledActivations.of(x, n * cols, HALF_SHIFT);
    if (n == 1 && L <= TILE) {
      // One row: tiles two at a time, half the range apart, as BF16 reads them (two streams, and
      // four independent FMA chains instead of two).
      int half = (tiled - from) / TILE / 2;
      float[] farScales = new float[blocks * TILE];
      int farFilled = -1;
      for (int k = 0; k < half; k++, tile += TILE) {
        int farTile = tile + half * TILE;
        filled = fillScales(w, tile, filled, scales);
        farFilled = fillScales(w, farTile, farFilled, farScales);
        for (int lane = 0; lane < TILE; lane += L) {
          oneOfTwoTiles(
              q,
              tile * quadCols + lane,
              half * TILE * quadCols,
              cols,
              blockCols,
              scales,
              farScales,
              lane,
              xs,
              y,
              tile + lane,
              farTile + lane);
        }
      }
      tile += half * TILE;
    }
    // Vectors wider than a tile (none for 32-bit lanes today) leave it all to the scalar form.
    for (; tile < tiled && L <= TILE; tile += TILE) {
      if (ahead > 0 && (tile - from) % (ahead * TILE) == 0) {
        sink +=
            Bf16MatMul.readAhead(
                q, tile * quadCols, Math.min(tiled, tile + ahead * TILE) * quadCols);
      }
      filled = fillScales(w, tile, filled, scales);
      for (int lane = 0; lane < TILE; lane += L) {
        int base = tile * quadCols + lane;
        int o = tile + lane;
        int b = 0;
        for (; b + 4 <= n; b += 4) {
          four(q, base, cols, blockCols, scales, lane, xs, b * cols, cols, y, b * rows + o, rows);
        }
        switch (n - b) {
          case 3 ->
              three(
                  q,
                  base,
                  cols,
                  blockCols,
                  scales,
                  lane,
                  xs,
                  b * cols,
                  cols,
                  y,
                  b * rows + o,
                  rows);
          case 2 ->
              two(
                  q,
                  base,
                  cols,
                  blockCols,
                  scales,
                  lane,
                  xs,
                  b * cols,
                  cols,
                  y,
                  b * rows + o,
                  rows);
          case 1 -> one(q, base, cols, blockCols, scales, lane, xs, b * cols, y, b * rows + o);
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
   * Byte j of each int ({@code left = 24 - 8j}) widened: the weight times 2^-120, a subnormal float
   * where E4M3's is subnormal. Only FMAs take it (Zen 3 slows a multiplication's subnormal input
   * down, not an FMA's).
   */
  private static FloatVector widen(IntVector v, int left) {
    IntVector top = left == 0 ? v : v.lanewise(VectorOperators.LSHL, left);
    return top.lanewise(VectorOperators.ASHR, 4).and(BITS).reinterpretAsFloats();
  }

  /** Byte j of {@code v} ({@code left = 24 - 8j}) widened as {@link #widen} does. */
  private static float widen(int v, int left) {
    return Float.intBitsToFloat(((v << left) >> 4) & BITS);
  }

  /**
   * Fills {@code scales} for {@code tile} unless they were filled for the same block rows ({@code
   * filled}, the key this returned last): the tiles of one block row share their key.
   */
  private static int fillScales(WeightMatrix w, int tile, int filled, float[] scales) {
    int blockRows = w.blockRows();
    int key = blockRows % TILE == 0 ? tile / blockRows : tile;
    if (key != filled) {
      for (int j = 0; j < TILE; j++) {
        w.blockScales(tile + j, HALF_SHIFT, scales, j, TILE);
      }
    }
    return key;
  }

  /**
   * One row of two tiles at once, the second {@code far} ints after the first and scaled by {@code
   * farScales}, into outputs {@code y0} and {@code y1}: each tile's lanes as {@link #one} sums
   * them.
   */
  private static void oneOfTwoTiles(
      int[] q,
      int base,
      int far,
      int cols,
      int blockCols,
      float[] scales,
      float[] farScales,
      int lane,
      float[] x,
      float[] y,
      int y0,
      int y1) {
    FloatVector z = FloatVector.zero(F);
    FloatVector r0 = z, r1 = z;
    int whole = cols / 4 * 4;
    for (int first = 0; first < whole; first += blockCols) {
      FloatVector s = FloatVector.fromArray(F, scales, first / blockCols * TILE + lane);
      FloatVector t = FloatVector.fromArray(F, farScales, first / blockCols * TILE + lane);
      FloatVector a0 = z, b0 = z, a1 = z, b1 = z;
      int start = base + first / 4 * TILE;
      for (int k = 0, ints = (Math.min(first + blockCols, whole) - first) / 4; k < ints; k++) {
        int c = first + 4 * k;
        IntVector v = IntVector.fromArray(I, q, start + k * TILE);
        IntVector u = IntVector.fromArray(I, q, start + far + k * TILE);
        FloatVector p = FloatVector.broadcast(F, x[c]);
        a0 = p.fma(widen(v, 24), a0);
        a1 = p.fma(widen(u, 24), a1);
        p = FloatVector.broadcast(F, x[c + 1]);
        b0 = p.fma(widen(v, 16), b0);
        b1 = p.fma(widen(u, 16), b1);
        p = FloatVector.broadcast(F, x[c + 2]);
        a0 = p.fma(widen(v, 8), a0);
        a1 = p.fma(widen(u, 8), a1);
        p = FloatVector.broadcast(F, x[c + 3]);
        b0 = p.fma(widen(v, 0), b0);
        b1 = p.fma(widen(u, 0), b1);
      }
      r0 = a0.add(b0).fma(s, r0);
      r1 = a1.add(b1).fma(t, r1);
    }
    if (whole < cols) {
      r0 = lastColumns(q, base, cols, blockCols, scales, lane, x, 0, r0);
      r1 = lastColumns(q, base + far, cols, blockCols, farScales, lane, x, 0, r1);
    }
    r0.intoArray(y, y0);
    r1.intoArray(y, y1);
  }

  /**
   * {@code r} plus the columns past the last whole int of the row at {@code x[x0]}, after the block
   * loop (inside it, its code took the loop's registers: two rows 26 GFLOP/s in L2 against 37),
   * summed as the blocks are, with the last block's scale.
   */
  private static FloatVector lastColumns(
      int[] q,
      int base,
      int cols,
      int blockCols,
      float[] scales,
      int lane,
      float[] x,
      int x0,
      FloatVector r) {
    int whole = cols / 4 * 4;
    FloatVector z = FloatVector.zero(F);
    FloatVector s = FloatVector.fromArray(F, scales, whole / blockCols * TILE + lane);
    IntVector v = IntVector.fromArray(I, q, base + whole / 4 * TILE);
    FloatVector a = FloatVector.broadcast(F, x[x0 + whole]).fma(widen(v, 24), z);
    FloatVector b = z;
    if (cols - whole > 1) {
      b = FloatVector.broadcast(F, x[x0 + whole + 1]).fma(widen(v, 16), z);
    }
    if (cols - whole > 2) {
      a = FloatVector.broadcast(F, x[x0 + whole + 2]).fma(widen(v, 8), a);
    }
    return a.add(b).fma(s, r);
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
    FloatVector r0 = z;
    int whole = cols / 4 * 4;
    for (int first = 0; first < whole; first += blockCols) {
      FloatVector s = FloatVector.fromArray(F, scales, first / blockCols * TILE + lane);
      FloatVector a0 = z, b0 = z;
      int start = base + first / 4 * TILE;
      for (int k = 0, ints = (Math.min(first + blockCols, whole) - first) / 4; k < ints; k++) {
        int c = first + 4 * k;
        IntVector v = IntVector.fromArray(I, q, start + k * TILE);
        FloatVector w = widen(v, 24), u = widen(v, 16);
        a0 = FloatVector.broadcast(F, x[x0 + c]).fma(w, a0);
        b0 = FloatVector.broadcast(F, x[x0 + c + 1]).fma(u, b0);
        w = widen(v, 8);
        u = widen(v, 0);
        a0 = FloatVector.broadcast(F, x[x0 + c + 2]).fma(w, a0);
        b0 = FloatVector.broadcast(F, x[x0 + c + 3]).fma(u, b0);
      }
      r0 = a0.add(b0).fma(s, r0);
    }
    if (whole < cols) {
      r0 = lastColumns(q, base, cols, blockCols, scales, lane, x, x0, r0);
    }
    r0.intoArray(y, y0);
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
    FloatVector r0 = z, r1 = z;
    int x1 = x0 + xs;
    int whole = cols / 4 * 4;
    for (int first = 0; first < whole; first += blockCols) {
      FloatVector s = FloatVector.fromArray(F, scales, first / blockCols * TILE + lane);
      FloatVector a0 = z, b0 = z, a1 = z, b1 = z;
      int start = base + first / 4 * TILE;
      for (int k = 0, ints = (Math.min(first + blockCols, whole) - first) / 4; k < ints; k++) {
        int c = first + 4 * k;
        IntVector v = IntVector.fromArray(I, q, start + k * TILE);
        FloatVector w = widen(v, 24), u = widen(v, 16);
        a0 = FloatVector.broadcast(F, x[x0 + c]).fma(w, a0);
        b0 = FloatVector.broadcast(F, x[x0 + c + 1]).fma(u, b0);
        a1 = FloatVector.broadcast(F, x[x1 + c]).fma(w, a1);
        b1 = FloatVector.broadcast(F, x[x1 + c + 1]).fma(u, b1);
        w = widen(v, 8);
        u = widen(v, 0);
        a0 = FloatVector.broadcast(F, x[x0 + c + 2]).fma(w, a0);
        b0 = FloatVector.broadcast(F, x[x0 + c + 3]).fma(u, b0);
        a1 = FloatVector.broadcast(F, x[x1 + c + 2]).fma(w, a1);
        b1 = FloatVector.broadcast(F, x[x1 + c + 3]).fma(u, b1);
      }
      r0 = a0.add(b0).fma(s, r0);
      r1 = a1.add(b1).fma(s, r1);
    }
    if (whole < cols) {
      r0 = lastColumns(q, base, cols, blockCols, scales, lane, x, x0, r0);
      r1 = lastColumns(q, base, cols, blockCols, scales, lane, x, x1, r1);
    }
    r0.intoArray(y, y0);
    r1.intoArray(y, y0 + ys);
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
    FloatVector r0 = z, r1 = z, r2 = z;
    int x1 = x0 + xs;
    int x2 = x0 + 2 * xs;
    int whole = cols / 4 * 4;
    for (int first = 0; first < whole; first += blockCols) {
      FloatVector s = FloatVector.fromArray(F, scales, first / blockCols * TILE + lane);
      FloatVector a0 = z, b0 = z, a1 = z, b1 = z, a2 = z, b2 = z;
      int start = base + first / 4 * TILE;
      for (int k = 0, ints = (Math.min(first + blockCols, whole) - first) / 4; k < ints; k++) {
        int c = first + 4 * k;
        IntVector v = IntVector.fromArray(I, q, start + k * TILE);
        FloatVector w = widen(v, 24), u = widen(v, 16);
        a0 = FloatVector.broadcast(F, x[x0 + c]).fma(w, a0);
        b0 = FloatVector.broadcast(F, x[x0 + c + 1]).fma(u, b0);
        a1 = FloatVector.broadcast(F, x[x1 + c]).fma(w, a1);
        b1 = FloatVector.broadcast(F, x[x1 + c + 1]).fma(u, b1);
        a2 = FloatVector.broadcast(F, x[x2 + c]).fma(w, a2);
        b2 = FloatVector.broadcast(F, x[x2 + c + 1]).fma(u, b2);
        w = widen(v, 8);
        u = widen(v, 0);
        a0 = FloatVector.broadcast(F, x[x0 + c + 2]).fma(w, a0);
        b0 = FloatVector.broadcast(F, x[x0 + c + 3]).fma(u, b0);
        a1 = FloatVector.broadcast(F, x[x1 + c + 2]).fma(w, a1);
        b1 = FloatVector.broadcast(F, x[x1 + c + 3]).fma(u, b1);
        a2 = FloatVector.broadcast(F, x[x2 + c + 2]).fma(w, a2);
        b2 = FloatVector.broadcast(F, x[x2 + c + 3]).fma(u, b2);
      }
      r0 = a0.add(b0).fma(s, r0);
      r1 = a1.add(b1).fma(s, r1);
      r2 = a2.add(b2).fma(s, r2);
    }
    if (whole < cols) {
      r0 = lastColumns(q, base, cols, blockCols, scales, lane, x, x0, r0);
      r1 = lastColumns(q, base, cols, blockCols, scales, lane, x, x1, r1);
      r2 = lastColumns(q, base, cols, blockCols, scales, lane, x, x2, r2);
    }
    r0.intoArray(y, y0);
    r1.intoArray(y, y0 + ys);
    r2.intoArray(y, y0 + 2 * ys);
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
    int x1 = x0 + xs;
    int x2 = x0 + 2 * xs;
    int x3 = x0 + 3 * xs;
    int y1 = y0 + ys;
    int y2 = y0 + 2 * ys;
    int y3 = y0 + 3 * ys;
    // The block sums so far wait in y, so that only the block's eight chains hold registers.
    z.intoArray(y, y0);
    z.intoArray(y, y1);
    z.intoArray(y, y2);
    z.intoArray(y, y3);
    int whole = cols / 4 * 4;
    for (int first = 0; first < whole; first += blockCols) {
      FloatVector a0 = z, b0 = z, a1 = z, b1 = z, a2 = z, b2 = z, a3 = z, b3 = z;
      int start = base + first / 4 * TILE;
      for (int k = 0, ints = (Math.min(first + blockCols, whole) - first) / 4; k < ints; k++) {
        int c = first + 4 * k;
        IntVector v = IntVector.fromArray(I, q, start + k * TILE);
        FloatVector w = widen(v, 24), u = widen(v, 16);
        a0 = FloatVector.broadcast(F, x[x0 + c]).fma(w, a0);
        b0 = FloatVector.broadcast(F, x[x0 + c + 1]).fma(u, b0);
        a1 = FloatVector.broadcast(F, x[x1 + c]).fma(w, a1);
        b1 = FloatVector.broadcast(F, x[x1 + c + 1]).fma(u, b1);
        a2 = FloatVector.broadcast(F, x[x2 + c]).fma(w, a2);
        b2 = FloatVector.broadcast(F, x[x2 + c + 1]).fma(u, b2);
        a3 = FloatVector.broadcast(F, x[x3 + c]).fma(w, a3);
        b3 = FloatVector.broadcast(F, x[x3 + c + 1]).fma(u, b3);
        w = widen(v, 8);
        u = widen(v, 0);
        a0 = FloatVector.broadcast(F, x[x0 + c + 2]).fma(w, a0);
        b0 = FloatVector.broadcast(F, x[x0 + c + 3]).fma(u, b0);
        a1 = FloatVector.broadcast(F, x[x1 + c + 2]).fma(w, a1);
        b1 = FloatVector.broadcast(F, x[x1 + c + 3]).fma(u, b1);
        a2 = FloatVector.broadcast(F, x[x2 + c + 2]).fma(w, a2);
        b2 = FloatVector.broadcast(F, x[x2 + c + 3]).fma(u, b2);
        a3 = FloatVector.broadcast(F, x[x3 + c + 2]).fma(w, a3);
        b3 = FloatVector.broadcast(F, x[x3 + c + 3]).fma(u, b3);
      }
      FloatVector s = FloatVector.fromArray(F, scales, first / blockCols * TILE + lane);
      a0.add(b0).fma(s, FloatVector.fromArray(F, y, y0)).intoArray(y, y0);
      a1.add(b1).fma(s, FloatVector.fromArray(F, y, y1)).intoArray(y, y1);
      a2.add(b2).fma(s, FloatVector.fromArray(F, y, y2)).intoArray(y, y2);
      a3.add(b3).fma(s, FloatVector.fromArray(F, y, y3)).intoArray(y, y3);
    }
    if (whole < cols) {
      lastColumns(q, base, cols, blockCols, scales, lane, x, x0, FloatVector.fromArray(F, y, y0))
          .intoArray(y, y0);
      lastColumns(q, base, cols, blockCols, scales, lane, x, x1, FloatVector.fromArray(F, y, y1))
          .intoArray(y, y1);
      lastColumns(q, base, cols, blockCols, scales, lane, x, x2, FloatVector.fromArray(F, y, y2))
          .intoArray(y, y2);
      lastColumns(q, base, cols, blockCols, scales, lane, x, x3, FloatVector.fromArray(F, y, y3))
          .intoArray(y, y3);
    }
  }

  /**
   * Output {@code o} of the row of {@code x} at {@code x0}, summed as the vector tiles sum each
   * lane.
   */
  static float scalar(WeightMatrix w, float[] x, int x0, int o) {
    int cols = w.cols();
    int blockCols = w.blockCols();
    int whole = cols / 4 * 4;
    float acc = 0;
    for (int first = 0; first < whole; first += blockCols) {
      float sum = columns(w, x, x0, o, first, Math.min(first + blockCols, whole));
      acc = Math.fma(sum, HALF_SHIFT * w.scale(o, first), acc);
    }
    if (whole < cols) {
      acc = Math.fma(columns(w, x, x0, o, whole, cols), HALF_SHIFT * w.scale(o, whole), acc);
    }
    return acc;
  }

  /**
   * Columns {@code [from, to)} of output {@code o}, unscaled: even and odd chains, then their sum.
   */
  private static float columns(WeightMatrix w, float[] x, int x0, int o, int from, int to) {
    int[] q = w.quads();
    float[] sums = new float[2];
    for (int c = from; c < to; c++) {
      float weight = widen(q[w.heldIndex(o, c / 4)], 24 - 8 * (c % 4));
      sums[c % 2] = Math.fma(x[x0 + c] * HALF_SHIFT, weight, sums[c % 2]);
    }
    return sums[0] + sums[1];
  }
}
