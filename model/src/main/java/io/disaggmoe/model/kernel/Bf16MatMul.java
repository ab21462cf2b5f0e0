package io.disaggmoe.model.kernel;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Multiplies float32 activations by a BF16 weight held in tiles of {@link Tiles#TILE} outputs (see
 * {@link WeightMatrix#ofBf16Pairs}): each int holds one output's two adjacent columns, and the
 * {@code TILE} ints of one column pair, one per output, lie side by side. A vector load thus brings
 * one column pair of a vector's worth of outputs; a shift widens the even column, a mask the odd
 * one, and each row's activation is broadcast against them. Every output's sum stays in its own
 * lane: no lane sums, and a whole tile is one stream of the matrix read front to back. One to three
 * rows read two tiles at once ({@link #oneOfTwoTiles}, {@link #twoOfTwoTiles}): one stream a thread
 * kept Zen 3's memory busy only at one row; two rows from memory, one thread, 18-20 GB/s against
 * 10-12 a tile at a time, three 12-14 against 11-13. With AVX-512, from {@link #READ_AHEAD_ROWS}
 * rows each 64 KB of tiles is read ahead ({@link #readAhead}).
 *
 * <p>Against the layout it replaced (rows as stored, four of them read side by side and summed
 * across lanes), both held and switched every 8 steps in one process on the bench model: batch 1
 * 0.91-1.20x (1.05-1.17 in the three longer runs), batch 8 1.03-1.82x, batch 32 1.03-1.07x; prefill
 * 1.25-1.29x. One thread on 1 MB matrices from memory: 1.1-1.5x at one row, 1.2-3x at two, 2x at
 * three and eight. In L1 the tiles run 90 GFLOP/s at one row and 195 at four or more (the FMA peak
 * is about 250).
 *
 * <p>Every output is summed the same way, lane-wise, whatever tile computes it: two accumulators,
 * the even columns in one FMA chain and the odd in another, each in column order, then {@code a +
 * b}. {@link #scalar} does the same with {@link Math#fma}, so a row's result does not depend on the
 * rows batched with it, nor on which thread computed its tile, nor on the vector width. Two chains
 * a row (four before) let four rows share a tile's widened weights in AVX2's 16 registers (8
 * accumulators, 4 widened vectors): with four chains a row only two rows fit, and every tile was
 * widened again for each pair of rows. In L2 on Zen 3, one thread, eight rows: 66-76 GFLOP/s
 * against 53-65 (the multiply-add probe: about 77).
 *
 * <p>How the tiles are written for the JIT: each loop counts passes, and both the weights' and the
 * activations' indices are the count times a constant plus a fixed start, which lets the JIT drop
 * every bounds check from the loop (with the activations' index a second counter, as before, it
 * checked each row's activations twice a pass and kept a pointer on the stack: two rows took 40
 * instructions a pass where they now take 30; from memory on Zen 3, experts at two rows read
 * 0.72-0.82 of the probe against 0.67-0.75). The tiles of one to four rows are written out rather
 * than looped over rows, so that every accumulator stays in a register.
 *
 * <p>Past four rows, the one or two rows after the last four are taken over two tiles at once
 * ({@link #oneOfTwoTiles}, {@link #twoOfTwoTiles}): a tile's two or four FMA chains alone wait on
 * the multiply-adds' latency, so on one tile they cost what four rows do. One thread, alternated
 * every round in one process: five rows 66 against 53 GFLOP/s in L2, 43 against 38 from memory; six
 * 74 against 64 and 51 against 46 (three rows past the fours are left to {@link #three}: over two
 * tiles, 68 against 70 in L2). Batch-32 decode steps, alternated every 2 steps, medians 79.1 and
 * 78.5 against 80.3 and 80.1 ms, where many experts take five or six rows.
 */
final class Bf16MatMul {
  private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
  private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
  private static final int L = F.length();
  private static final int ODD = 0xFFFF0000;

  private static final int TILE = Tiles.TILE;

  /** Two pairs a loop pass: the stride of one pass through a tile. */
  private static final int PASS = 2 * TILE;

  /**
   * From this many rows, tiles are first read with plain loads ({@link #readAhead}) and then
   * multiplied from cache. One thread, 512 x 1024 and 1024 x 1024 matrices from memory: 1.1-1.2x at
   * three rows, 1.6x at four, 1.5-1.7x at eight, 1.2x at 32; 0.83-0.9x at two and 0.75x at one,
   * where the arithmetic is light enough to keep up with the reads. Whole decode steps on the bench
   * model, switched every 8 steps in one process, five runs: batch 8 1.11-1.25x in four and 0.86x
   * in one, batch 32 0.99-1.34x; prefill level. All that on Zen 5 with AVX-512; on Zen 3 with AVX2
   * reading ahead lost: three rows through experts from memory 0.40-0.46 of the read probe against
   * 0.58 without, and decode steps, switched every 2 steps in one process, two runs: batch 8
   * medians 52.8 and 39.7 ms against 48.3 and 37.2, batch 32 121.5 and 101.0 against 110.2 and
   * 96.0. So it is done only where the vectors are AVX-512's.
   */
  static final int READ_AHEAD_ROWS = Vectors.Simd.WIDE_REGISTERS ? 3 : Integer.MAX_VALUE;

  /** Where read-ahead sums go, so that the JIT keeps the loads. */
  @SuppressWarnings("unused")
  private static int readAheadSink;

  private Bf16MatMul() {}

  /** The low half of each int of {@code v} (a pair's first BF16 value) as a float. */
  static FloatVector even(IntVector v) {
    return v.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
  }

  /** The high half of each int of {@code v} (a pair's second BF16 value) as a float. */
  static FloatVector odd(IntVector v) {
    return v.and(ODD).reinterpretAsFloats();
  }

  /**
   * {@code y[n, rows] = x · Wᵀ} for outputs {@code [from, to)} of every row; {@code from} is a
   * multiple of {@link Tiles#TILE}.
   */
  static void multiply(WeightMatrix w, float[] x, int n, float[] y, int from, int to) {
    int[] p = w.pairs();
    int cols = w.cols();
    int rows = w.rows();
    int pairs = (cols + 1) / 2;
    int passEnd = cols / 4 * PASS;
    int tiled = Math.min(to, w.tiledRows());
    // Columns past the whole passes (of four columns each).
    int tail = cols % 4;
    int tile = from;
    int ahead = n >= READ_AHEAD_ROWS ? Tiles.readAheadTiles(pairs) : 0;
    int sink = 0;
    if (n <= 3 && L <= TILE) {
      // Up to three rows, light arithmetic for their bytes: tiles two at a time, half the range
      // apart, so that two streams are read at once; rows two at a time, the third in a second
      // pass over the same tiles, from cache.
      int half = (tiled - from) / TILE / 2;
      int far = half * TILE * pairs;
      for (int k = 0; k < half; k++, tile += TILE) {
        for (int lane = 0; lane < TILE; lane += L) {
          int base = tile * pairs + lane;
          int o = tile + lane;
          int b = 0;
          for (; b + 2 <= n; b += 2) {
            twoOfTwoTiles(
                p,
                base,
                far,
                cols,
                x,
                b * cols,
                cols,
                y,
                b * rows + o,
                b * rows + o + half * TILE,
                rows);
          }
          if (b < n) {
            oneOfTwoTiles(
                p,
                base,
                base + passEnd,
                far,
                tail,
                x,
                b * cols,
                y,
                b * rows + o,
                b * rows + o + half * TILE);
          }
        }
      }
      tile += half * TILE;
    }
    // One or two rows past the fours: over this tile and the next at once (see the class comment).
    int rest = n % 4;
    boolean pairsRest = n > 4 && (rest == 1 || rest == 2) && L == TILE;
    // Vectors wider than a tile (none for 32-bit lanes today) leave it all to the scalar form.
    for (; tile < tiled && L <= TILE; tile += TILE) {
      if (ahead > 0 && (tile - from) % (ahead * TILE) == 0) {
        sink += readAhead(p, tile * pairs, Math.min(tiled, tile + ahead * TILE) * pairs);
      }
      for (int lane = 0; lane < TILE; lane += L) {
        int base = tile * pairs + lane;
        int end = base + passEnd;
        int o = tile + lane;
        int b = 0;
        for (; b + 4 <= n; b += 4) {
          four(p, base, end, tail, x, b * cols, cols, y, b * rows + o, rows);
        }
        if (pairsRest && (tile - from) / TILE % 2 == 1) {
          // The previous tile's call did this one's rest.
          continue;
        }
        if (pairsRest && tile + TILE < tiled) {
          int next = o + TILE;
          if (n - b == 2) {
            twoOfTwoTiles(
                p,
                base,
                TILE * pairs,
                cols,
                x,
                b * cols,
                cols,
                y,
                b * rows + o,
                b * rows + next,
                rows);
          } else {
            oneOfTwoTiles(
                p, base, end, TILE * pairs, tail, x, b * cols, y, b * rows + o, b * rows + next);
          }
          continue;
        }
        switch (n - b) {
          case 3 -> three(p, base, end, tail, x, b * cols, cols, y, b * rows + o, rows);
          case 2 -> two(p, base, end, tail, x, b * cols, cols, y, b * rows + o, rows);
          case 1 -> one(p, base, end, tail, x, b * cols, y, b * rows + o);
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
      // Only then: both kernel threads writing the field on every call would share its line.
      readAheadSink = sink;
    }
  }

  /**
   * Reads {@code w[from, to)} (whole tiles, so whole vectors) with plain loads, four streams of
   * sums: what the hardware prefetcher keeps up with, where the tiles' arithmetic between the same
   * loads leaves it idle. Returns the sum, for a sink.
   */
  static int readAhead(int[] w, int from, int to) {
    IntVector a = IntVector.zero(I), b = a, c = a, d = a;
    int i = from;
    for (; i + 4 * L <= to; i += 4 * L) {
      a = a.add(IntVector.fromArray(I, w, i));
      b = b.add(IntVector.fromArray(I, w, i + L));
      c = c.add(IntVector.fromArray(I, w, i + 2 * L));
      d = d.add(IntVector.fromArray(I, w, i + 3 * L));
    }
    for (; i < to; i += L) {
      a = a.add(IntVector.fromArray(I, w, i));
    }
    return a.add(b).add(c.add(d)).lane(0);
  }

  /** One row: the lanes of {@code w} from {@code base}, in passes of two pairs to {@code end}. */
  private static void one(
      int[] w, int base, int end, int tail, float[] x, int x0, float[] y, int y0) {
    FloatVector a0 = FloatVector.zero(F), b0 = a0;
    for (int k = 0, passes = (end - base) / PASS; k < passes; k++) {
      int i = base + k * PASS, c = 4 * k;
      IntVector v = IntVector.fromArray(I, w, i);
      IntVector u = IntVector.fromArray(I, w, i + TILE);
      a0 = FloatVector.broadcast(F, x[x0 + c]).fma(even(v), a0);
      b0 = FloatVector.broadcast(F, x[x0 + c + 1]).fma(odd(v), b0);
      a0 = FloatVector.broadcast(F, x[x0 + c + 2]).fma(even(u), a0);
      b0 = FloatVector.broadcast(F, x[x0 + c + 3]).fma(odd(u), b0);
    }
    if (tail > 0) {
      int c = (end - base) / PASS * 4;
      IntVector v = IntVector.fromArray(I, w, end);
      a0 = FloatVector.broadcast(F, x[x0 + c]).fma(even(v), a0);
      if (tail > 1) {
        b0 = FloatVector.broadcast(F, x[x0 + c + 1]).fma(odd(v), b0);
      }
      if (tail > 2) {
        FloatVector ue = even(IntVector.fromArray(I, w, end + TILE));
        a0 = FloatVector.broadcast(F, x[x0 + c + 2]).fma(ue, a0);
      }
    }
    a0.add(b0).intoArray(y, y0);
  }

  /**
   * One row of two tiles at once, the second {@code far} ints after the first, into outputs from
   * {@code y0} and {@code y1}: each tile's lanes as {@link #one} sums them, the activations
   * broadcast once for both. One thread on 1 MB matrices from memory: 1.07-1.2x a tile at a time
   * (tiles side by side instead: 0.8x; four tiles: 0.3x under the JIT); in L1 1.4-1.6x. Whole
   * batch-1 decode steps, switched every 8 steps in one process, four runs: 0.97-1.10x, 1.03 on
   * average.
   */
  private static void oneOfTwoTiles(
      int[] w, int base, int end, int far, int tail, float[] x, int x0, float[] y, int y0, int y1) {
    FloatVector a0 = FloatVector.zero(F), b0 = a0, a1 = a0, b1 = a0;
    for (int k = 0, passes = (end - base) / PASS; k < passes; k++) {
      int i = base + k * PASS, c = 4 * k;
      FloatVector p = FloatVector.broadcast(F, x[x0 + c]);
      FloatVector q = FloatVector.broadcast(F, x[x0 + c + 1]);
      FloatVector r = FloatVector.broadcast(F, x[x0 + c + 2]);
      FloatVector s = FloatVector.broadcast(F, x[x0 + c + 3]);
      IntVector v = IntVector.fromArray(I, w, i);
      IntVector u = IntVector.fromArray(I, w, i + TILE);
      IntVector v1 = IntVector.fromArray(I, w, i + far);
      IntVector u1 = IntVector.fromArray(I, w, i + far + TILE);
      a0 = p.fma(even(v), a0);
      b0 = q.fma(odd(v), b0);
      a1 = p.fma(even(v1), a1);
      b1 = q.fma(odd(v1), b1);
      a0 = r.fma(even(u), a0);
      b0 = s.fma(odd(u), b0);
      a1 = r.fma(even(u1), a1);
      b1 = s.fma(odd(u1), b1);
    }
    if (tail > 0) {
      int c = (end - base) / PASS * 4;
      IntVector v = IntVector.fromArray(I, w, end);
      IntVector v1 = IntVector.fromArray(I, w, end + far);
      FloatVector p = FloatVector.broadcast(F, x[x0 + c]);
      a0 = p.fma(even(v), a0);
      a1 = p.fma(even(v1), a1);
      if (tail > 1) {
        FloatVector q = FloatVector.broadcast(F, x[x0 + c + 1]);
        b0 = q.fma(odd(v), b0);
        b1 = q.fma(odd(v1), b1);
      }
      if (tail > 2) {
        FloatVector r = FloatVector.broadcast(F, x[x0 + c + 2]);
        a0 = r.fma(even(IntVector.fromArray(I, w, end + TILE)), a0);
        a1 = r.fma(even(IntVector.fromArray(I, w, end + far + TILE)), a1);
      }
    }
    a0.add(b0).intoArray(y, y0);
    a1.add(b1).intoArray(y, y1);
  }

  /**
   * Two rows of two tiles at once, as {@link #oneOfTwoTiles} reads them, a pair of columns a pass
   * (two pairs a pass left the JIT eight widened vectors to hold and it spilled accumulators).
   */
  private static void twoOfTwoTiles(
      int[] w,
      int base,
      int far,
      int cols,
      float[] x,
      int x0,
      int xs,
      float[] y,
      int y0,
      int y1,
      int ys) {
    FloatVector a0 = FloatVector.zero(F), b0 = a0, a1 = a0, b1 = a0;
    FloatVector a2 = a0, b2 = a0, a3 = a0, b3 = a0;
    int x1 = x0 + xs;
    for (int k = 0, pairs = cols / 2; k < pairs; k++) {
      int i = base + k * TILE, c = 2 * k;
      IntVector v = IntVector.fromArray(I, w, i);
      IntVector v1 = IntVector.fromArray(I, w, i + far);
      FloatVector e = even(v), e1 = even(v1), o = odd(v), o1 = odd(v1);
      FloatVector p = FloatVector.broadcast(F, x[x0 + c]);
      FloatVector q = FloatVector.broadcast(F, x[x1 + c]);
      a0 = p.fma(e, a0);
      a1 = p.fma(e1, a1);
      a2 = q.fma(e, a2);
      a3 = q.fma(e1, a3);
      p = FloatVector.broadcast(F, x[x0 + c + 1]);
      q = FloatVector.broadcast(F, x[x1 + c + 1]);
      b0 = p.fma(o, b0);
      b1 = p.fma(o1, b1);
      b2 = q.fma(o, b2);
      b3 = q.fma(o1, b3);
    }
    if (cols % 2 == 1) {
      int i = base + cols / 2 * TILE, c = cols - 1;
      FloatVector e = even(IntVector.fromArray(I, w, i));
      FloatVector e1 = even(IntVector.fromArray(I, w, i + far));
      FloatVector p = FloatVector.broadcast(F, x[x0 + c]);
      FloatVector q = FloatVector.broadcast(F, x[x1 + c]);
      a0 = p.fma(e, a0);
      a1 = p.fma(e1, a1);
      a2 = q.fma(e, a2);
      a3 = q.fma(e1, a3);
    }
    a0.add(b0).intoArray(y, y0);
    a1.add(b1).intoArray(y, y1);
    a2.add(b2).intoArray(y, y0 + ys);
    a3.add(b3).intoArray(y, y1 + ys);
  }

  /**
   * Two rows, {@code xs} and {@code ys} apart in {@code x} and {@code y}: the lanes of {@code w}
   * from {@code base}, in passes of two pairs to {@code end}.
   */
  private static void two(
      int[] w, int base, int end, int tail, float[] x, int x0, int xs, float[] y, int y0, int ys) {
    FloatVector z = FloatVector.zero(F);
    FloatVector a0 = z, b0 = z, a1 = z, b1 = z;
    int x1 = x0 + xs;
    for (int k = 0, passes = (end - base) / PASS; k < passes; k++) {
      int i = base + k * PASS, c = 4 * k;
      IntVector v = IntVector.fromArray(I, w, i);
      IntVector u = IntVector.fromArray(I, w, i + TILE);
      FloatVector ve = even(v), vo = odd(v), ue = even(u), uo = odd(u);
      a0 = FloatVector.broadcast(F, x[x0 + c]).fma(ve, a0);
      b0 = FloatVector.broadcast(F, x[x0 + c + 1]).fma(vo, b0);
      a1 = FloatVector.broadcast(F, x[x1 + c]).fma(ve, a1);
      b1 = FloatVector.broadcast(F, x[x1 + c + 1]).fma(vo, b1);
      a0 = FloatVector.broadcast(F, x[x0 + c + 2]).fma(ue, a0);
      b0 = FloatVector.broadcast(F, x[x0 + c + 3]).fma(uo, b0);
      a1 = FloatVector.broadcast(F, x[x1 + c + 2]).fma(ue, a1);
      b1 = FloatVector.broadcast(F, x[x1 + c + 3]).fma(uo, b1);
    }
    if (tail > 0) {
      int c = (end - base) / PASS * 4;
      IntVector v = IntVector.fromArray(I, w, end);
      FloatVector ve = even(v), vo = odd(v);
      a0 = FloatVector.broadcast(F, x[x0 + c]).fma(ve, a0);
      a1 = FloatVector.broadcast(F, x[x1 + c]).fma(ve, a1);
      if (tail > 1) {
        b0 = FloatVector.broadcast(F, x[x0 + c + 1]).fma(vo, b0);
        b1 = FloatVector.broadcast(F, x[x1 + c + 1]).fma(vo, b1);
      }
      if (tail > 2) {
        FloatVector ue = even(IntVector.fromArray(I, w, end + TILE));
        a0 = FloatVector.broadcast(F, x[x0 + c + 2]).fma(ue, a0);
        a1 = FloatVector.broadcast(F, x[x1 + c + 2]).fma(ue, a1);
      }
    }
    a0.add(b0).intoArray(y, y0);
    a1.add(b1).intoArray(y, y0 + ys);
  }

  /**
   * Three rows: the lanes of {@code w} from {@code base}, in passes of two pairs to {@code end}.
   */
  private static void three(
      int[] w, int base, int end, int tail, float[] x, int x0, int xs, float[] y, int y0, int ys) {
    FloatVector z = FloatVector.zero(F);
    FloatVector a0 = z, b0 = z, a1 = z, b1 = z, a2 = z, b2 = z;
    int x1 = x0 + xs;
    int x2 = x0 + 2 * xs;
    for (int k = 0, passes = (end - base) / PASS; k < passes; k++) {
      int i = base + k * PASS, c = 4 * k;
      IntVector v = IntVector.fromArray(I, w, i);
      IntVector u = IntVector.fromArray(I, w, i + TILE);
      FloatVector ve = even(v), vo = odd(v), ue = even(u), uo = odd(u);
      a0 = FloatVector.broadcast(F, x[x0 + c]).fma(ve, a0);
      b0 = FloatVector.broadcast(F, x[x0 + c + 1]).fma(vo, b0);
      a1 = FloatVector.broadcast(F, x[x1 + c]).fma(ve, a1);
      b1 = FloatVector.broadcast(F, x[x1 + c + 1]).fma(vo, b1);
      a2 = FloatVector.broadcast(F, x[x2 + c]).fma(ve, a2);
      b2 = FloatVector.broadcast(F, x[x2 + c + 1]).fma(vo, b2);
      a0 = FloatVector.broadcast(F, x[x0 + c + 2]).fma(ue, a0);
      b0 = FloatVector.broadcast(F, x[x0 + c + 3]).fma(uo, b0);
      a1 = FloatVector.broadcast(F, x[x1 + c + 2]).fma(ue, a1);
      b1 = FloatVector.broadcast(F, x[x1 + c + 3]).fma(uo, b1);
      a2 = FloatVector.broadcast(F, x[x2 + c + 2]).fma(ue, a2);
      b2 = FloatVector.broadcast(F, x[x2 + c + 3]).fma(uo, b2);
    }
    if (tail > 0) {
      int c = (end - base) / PASS * 4;
      IntVector v = IntVector.fromArray(I, w, end);
      FloatVector ve = even(v), vo = odd(v);
      a0 = FloatVector.broadcast(F, x[x0 + c]).fma(ve, a0);
      a1 = FloatVector.broadcast(F, x[x1 + c]).fma(ve, a1);
      a2 = FloatVector.broadcast(F, x[x2 + c]).fma(ve, a2);
      if (tail > 1) {
        b0 = FloatVector.broadcast(F, x[x0 + c + 1]).fma(vo, b0);
        b1 = FloatVector.broadcast(F, x[x1 + c + 1]).fma(vo, b1);
        b2 = FloatVector.broadcast(F, x[x2 + c + 1]).fma(vo, b2);
      }
      if (tail > 2) {
        FloatVector ue = even(IntVector.fromArray(I, w, end + TILE));
        a0 = FloatVector.broadcast(F, x[x0 + c + 2]).fma(ue, a0);
        a1 = FloatVector.broadcast(F, x[x1 + c + 2]).fma(ue, a1);
        a2 = FloatVector.broadcast(F, x[x2 + c + 2]).fma(ue, a2);
      }
    }
    a0.add(b0).intoArray(y, y0);
    a1.add(b1).intoArray(y, y0 + ys);
    a2.add(b2).intoArray(y, y0 + 2 * ys);
  }

  /** Four rows: the lanes of {@code w} from {@code base}, in passes of two pairs to {@code end}. */
  private static void four(
      int[] w, int base, int end, int tail, float[] x, int x0, int xs, float[] y, int y0, int ys) {
    FloatVector z = FloatVector.zero(F);
    FloatVector a0 = z, b0 = z, a1 = z, b1 = z, a2 = z, b2 = z, a3 = z, b3 = z;
    int x1 = x0 + xs;
    int x2 = x0 + 2 * xs;
    int x3 = x0 + 3 * xs;
    for (int k = 0, passes = (end - base) / PASS; k < passes; k++) {
      int i = base + k * PASS, c = 4 * k;
      IntVector v = IntVector.fromArray(I, w, i);
      IntVector u = IntVector.fromArray(I, w, i + TILE);
      FloatVector ve = even(v), vo = odd(v), ue = even(u), uo = odd(u);
      a0 = FloatVector.broadcast(F, x[x0 + c]).fma(ve, a0);
      b0 = FloatVector.broadcast(F, x[x0 + c + 1]).fma(vo, b0);
      a1 = FloatVector.broadcast(F, x[x1 + c]).fma(ve, a1);
      b1 = FloatVector.broadcast(F, x[x1 + c + 1]).fma(vo, b1);
      a2 = FloatVector.broadcast(F, x[x2 + c]).fma(ve, a2);
      b2 = FloatVector.broadcast(F, x[x2 + c + 1]).fma(vo, b2);
      a3 = FloatVector.broadcast(F, x[x3 + c]).fma(ve, a3);
      b3 = FloatVector.broadcast(F, x[x3 + c + 1]).fma(vo, b3);
      a0 = FloatVector.broadcast(F, x[x0 + c + 2]).fma(ue, a0);
      b0 = FloatVector.broadcast(F, x[x0 + c + 3]).fma(uo, b0);
      a1 = FloatVector.broadcast(F, x[x1 + c + 2]).fma(ue, a1);
      b1 = FloatVector.broadcast(F, x[x1 + c + 3]).fma(uo, b1);
      a2 = FloatVector.broadcast(F, x[x2 + c + 2]).fma(ue, a2);
      b2 = FloatVector.broadcast(F, x[x2 + c + 3]).fma(uo, b2);
      a3 = FloatVector.broadcast(F, x[x3 + c + 2]).fma(ue, a3);
      b3 = FloatVector.broadcast(F, x[x3 + c + 3]).fma(uo, b3);
    }
    if (tail > 0) {
      int c = (end - base) / PASS * 4;
      IntVector v = IntVector.fromArray(I, w, end);
      FloatVector ve = even(v), vo = odd(v);
      a0 = FloatVector.broadcast(F, x[x0 + c]).fma(ve, a0);
      a1 = FloatVector.broadcast(F, x[x1 + c]).fma(ve, a1);
      a2 = FloatVector.broadcast(F, x[x2 + c]).fma(ve, a2);
      a3 = FloatVector.broadcast(F, x[x3 + c]).fma(ve, a3);
      if (tail > 1) {
        b0 = FloatVector.broadcast(F, x[x0 + c + 1]).fma(vo, b0);
        b1 = FloatVector.broadcast(F, x[x1 + c + 1]).fma(vo, b1);
        b2 = FloatVector.broadcast(F, x[x2 + c + 1]).fma(vo, b2);
        b3 = FloatVector.broadcast(F, x[x3 + c + 1]).fma(vo, b3);
      }
      if (tail > 2) {
        FloatVector ue = even(IntVector.fromArray(I, w, end + TILE));
        a0 = FloatVector.broadcast(F, x[x0 + c + 2]).fma(ue, a0);
        a1 = FloatVector.broadcast(F, x[x1 + c + 2]).fma(ue, a1);
        a2 = FloatVector.broadcast(F, x[x2 + c + 2]).fma(ue, a2);
        a3 = FloatVector.broadcast(F, x[x3 + c + 2]).fma(ue, a3);
      }
    }
    a0.add(b0).intoArray(y, y0);
    a1.add(b1).intoArray(y, y0 + ys);
    a2.add(b2).intoArray(y, y0 + 2 * ys);
    a3.add(b3).intoArray(y, y0 + 3 * ys);
  }

  /**
   * Output {@code o} of the row of {@code x} at {@code x0}, summed as the vector tiles sum each
   * lane.
   */
  static float scalar(WeightMatrix w, float[] x, int x0, int o) {
    int[] p = w.pairs();
    int cols = w.cols();
    float a = 0, b = 0;
    for (int k = 0; 2 * k < cols; k++) {
      int v = p[w.heldIndex(o, k)];
      a = Math.fma(x[x0 + 2 * k], Float.intBitsToFloat(v << 16), a);
      if (2 * k + 1 < cols) {
        b = Math.fma(x[x0 + 2 * k + 1], Float.intBitsToFloat(v & ODD), b);
      }
    }
    return a + b;
  }
}
