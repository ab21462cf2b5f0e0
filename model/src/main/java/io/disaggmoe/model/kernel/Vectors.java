package io.disaggmoe.model.kernel;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Dot products, scaled adds and softmax weights over float arrays with the Vector API (plain loops
 * when the module is absent). Each sums in one fixed order for given lengths, so a result depends
 * only on its operands: in particular a dot product's lanes are added by halving, lane-wise adds
 * whose result the API specifies exactly, not by {@code reduceLanes}, whose order differs between
 * the interpreter and compiled code (a row's logits changed when the JIT compiled it mid-decode).
 */
public final class Vectors {
  private static final boolean VECTOR = MatMul.vectorAvailable();

  private Vectors() {}

  /** {@code Σ a[ao+i] * b[bo+i]} for {@code i < n}. */
  public static float dot(float[] a, int ao, float[] b, int bo, int n) {
    return VECTOR ? Simd.dot(a, ao, b, bo, n) : scalarDot(a, ao, b, bo, n);
  }

  /**
   * Four dot products of {@code b[bo .. bo+n)} with {@code a} at {@code ao + k * stride}, into
   * {@code out[outAt + k * outStride]} for {@code k < 4}: each exactly {@link #dot}, with the four
   * sums running side by side instead of one after another.
   */
  public static void dot4(
      float[] a,
      int ao,
      int stride,
      float[] b,
      int bo,
      int n,
      float[] out,
      int outAt,
      int outStride) {
    if (VECTOR) {
      Simd.dot4(a, ao, stride, b, bo, n, out, outAt, outStride);
      return;
    }
    for (int k = 0; k < 4; k++) {
      out[outAt + k * outStride] = scalarDot(a, ao + k * stride, b, bo, n);
    }
  }

  /**
   * {@link #dot4} for four rows of {@code b}, row {@code r} at {@code bo + r * bStride}, into
   * {@code out[outAt + r + k * outStride]}: each sum exactly {@link #dot}'s, sixteen running side
   * by side so that each load of a query serves four rows. A head's scores over cached rows ran 1.5
   * times dot4's rate per row (one thread, 8 heads of 288 values). With AVX2's 16 registers, two
   * rows at a time ({@code Simd.dot4x2}).
   */
  public static void dot4x4(
      float[] a,
      int ao,
      int stride,
      float[] b,
      int bo,
      int bStride,
      int n,
      float[] out,
      int outAt,
      int outStride) {
    if (VECTOR && Simd.WIDE_REGISTERS) {
      Simd.dot4x4(a, ao, stride, b, bo, bStride, n, out, outAt, outStride);
      return;
    }
    if (VECTOR) {
      Simd.dot4x2(a, ao, stride, b, bo, bStride, n, out, outAt, outStride);
      Simd.dot4x2(a, ao, stride, b, bo + 2 * bStride, bStride, n, out, outAt + 2, outStride);
      return;
    }
    for (int r = 0; r < 4; r++) {
      dot4(a, ao, stride, b, bo + r * bStride, n, out, outAt + r, outStride);
    }
  }

  /**
   * Reads {@code v[from .. from+n)} and returns its sum, which only keeps the JIT from dropping the
   * loads. A block of cached rows read this way first, then scored and weighted from the cache,
   * went 1.5-1.7 times as fast as the kernels loading it from memory themselves: a plain loop of
   * loads keeps more reads in flight than a kernel busy with arithmetic, and Java has no prefetch.
   */
  public static float readAhead(float[] v, int from, int n) {
    return VECTOR ? VectorMatMul.sum(v, from, from + n) : 0f;
  }

  /**
   * Heads a lane each in {@link #laneWeightedSums}: eight, one AVX2 vector (a 256-bit one on wider
   * hardware too).
   */
  public static final int HEAD_LANES = 8;

  private static final boolean LANE_VECTORS = VECTOR && Simd.LANES >= HEAD_LANES;

  /**
   * For each column {@code c < cols} and lane {@code h} of {@link #HEAD_LANES}: {@code sums[sumsAt
   * + c * HEAD_LANES + h] += Σ_j p[pAt + j * HEAD_LANES + h] * rows[rowAt + j * dim + c]} over
   * {@code j < count}: weighted sums of the rows' first {@code cols} values, the weights and the
   * sums laid out lane-wise. Each is one multiply-add after another in {@code j} order onto the sum
   * given, so calls over consecutive runs of rows add up to one call over all of them, bit for bit,
   * vectorized or not.
   */
  public static void laneWeightedSums(
      float[] p,
      int pAt,
      float[] rows,
      int rowAt,
      int dim,
      int count,
      int cols,
      float[] sums,
      int sumsAt) {
    if (LANE_VECTORS) {
      Simd.laneWeightedSums(p, pAt, rows, rowAt, dim, count, cols, sums, sumsAt);
      return;
    }
    for (int c = 0; c < cols; c++) {
      for (int h = 0; h < HEAD_LANES; h++) {
        int at = sumsAt + c * HEAD_LANES + h;
        float s = sums[at];
        for (int j = 0; j < count; j++) {
          s = Math.fma(p[pAt + j * HEAD_LANES + h], rows[rowAt + j * dim + c], s);
        }
        sums[at] = s;
      }
    }
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

  /**
   * {@code v[at+i] = e^(v[at+i] - shift)} for {@code i < n}, where no {@code v[at+i]} exceeds
   * {@code shift} (a softmax's weights). Each element is {@link #expOfNonPositive} of its
   * difference, the same float operations whether vectorized or not, so the value does not depend
   * on the JIT's state nor on the hardware, unlike {@code VectorOperators.EXP}; {@code (float)
   * Math.exp} took 14 ns an element here, this takes well under one.
   */
  public static void expShifted(float[] v, int at, int n, float shift) {
    int i = VECTOR ? Simd.expShifted(v, at, n, shift) : 0;
    for (; i < n; i++) {
      v[at + i] = expOfNonPositive(v[at + i] - shift);
    }
  }

  // e^x = 2^k * e^r, k = round(x / ln 2), |r| <= ln 2 / 2, e^r by its Taylor series to r^7 (the
  // next term is under 5e-9 of the sum, so rounding dominates: within two ulps of the true value).
  // Below -87, e^x is under float's smallest normal and taken as 0.
  private static final float LOG2E = 1.44269504f;
  private static final float ROUNDER = 0x1.8p23f;
  private static final float LN2_HI = 0.693145752f;
  private static final float LN2_LO = 1.42860677e-6f;
  private static final float MIN_EXPONENT = -87f;
  private static final float[] TAYLOR = {
    1f / 5040, 1f / 720, 1f / 120, 1f / 24, 1f / 6, 0.5f, 1f, 1f
  };

  /**
   * {@code gate[i] = silu(gate[i]) * up[i]} for {@code i < n}: SwiGLU's product, with {@code
   * silu(g) = g / (1 + e^-g)} taken as {@code g / (1 + t)} for {@code g >= 0} and {@code g * t / (1
   * + t)} below, {@code t = e^-|g|} ({@link #expOfNonPositive}), so no exponential overflows. Each
   * element gets the same float operations whether vectorized or not, so it does not depend on the
   * rows beside it; {@code (float) Math.exp} took 4.3 ns an element here, 0.8 ms of the 200,000 a
   * batch-8 step of the bench preset computes, 13 times this.
   */
  public static void siluTimes(float[] gate, float[] up, int n) {
    int i = VECTOR ? Simd.siluTimes(gate, up, n) : 0;
    for (; i < n; i++) {
      float g = gate[i];
      float t = expOfNonPositive(-Math.abs(g));
      gate[i] = (g < 0 ? g * t : g) / (1 + t) * up[i];
    }
  }

  /** {@code e^x} for {@code x <= 0}, as {@link #expShifted} computes it. */
  public static float expOfNonPositive(float x) {
    if (x < MIN_EXPONENT) {
      return 0f;
    }
    float k = Math.fma(x, LOG2E, ROUNDER) - ROUNDER;
    float r = Math.fma(k, -LN2_HI, x);
    r = Math.fma(k, -LN2_LO, r);
    float p = TAYLOR[0];
    for (int c = 1; c < TAYLOR.length; c++) {
      p = Math.fma(p, r, TAYLOR[c]);
    }
    return p * Float.intBitsToFloat(((int) k + 127) << 23);
  }

  private static float scalarDot(float[] a, int ao, float[] b, int bo, int n) {
    float s = 0;
    for (int i = 0; i < n; i++) {
      s += a[ao + i] * b[bo + i];
    }
    return s;
  }

  /** Kept apart so that no Vector API class loads where the module is absent. */
  static final class Simd {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();

    /**
     * Whether the vector registers are 32 (AVX-512's, taken as 512-bit vectors), not 16 (AVX2's):
     * kernels whose accumulators fit only the 32 ({@link #dot4x4}, {@code Bf16MatMul}'s tiles of
     * three and four rows) give way to narrower forms on the 16.
     */
    static final boolean WIDE_REGISTERS = F.vectorBitSize() >= 512;

    /** Floats in one of the kernels' vectors. */
    static final int LANES = L;

    // Lane i takes lane i + L/2, L/4, L/8, L/16 (wrapping): the halving steps of a lane sum. Each
    // its own constant, since rearrange compiles to one permute only for a shuffle the JIT knows.
    static final VectorShuffle<Float> HALF = VectorShuffle.iota(F, L / 2, 1, true);
    static final VectorShuffle<Float> QUARTER = VectorShuffle.iota(F, Math.max(1, L / 4), 1, true);
    static final VectorShuffle<Float> EIGHTH = VectorShuffle.iota(F, Math.max(1, L / 8), 1, true);
    static final VectorShuffle<Float> SIXTEENTH =
        VectorShuffle.iota(F, Math.max(1, L / 16), 1, true);

    // Four accumulators' lane sums at once (dot4): lane i pairs with lane i ^ d for d = L/2, L/4,
    // ..., 1, the pairs halving takes, the first two steps merging the four into one vector.
    static final VectorShuffle<Float> XOR_HALF = VectorShuffle.fromOp(F, i -> i ^ (L / 2));
    static final VectorShuffle<Float> XOR_QUARTER =
        VectorShuffle.fromOp(F, i -> i ^ Math.max(1, L / 4));
    static final VectorShuffle<Float> XOR_EIGHTH =
        VectorShuffle.fromOp(F, i -> i ^ Math.max(1, L / 8));
    static final VectorShuffle<Float> XOR_SIXTEENTH =
        VectorShuffle.fromOp(F, i -> i ^ Math.max(1, L / 16));
    static final VectorMask<Float> UPPER_HALF = laneBit(L / 2);
    static final VectorMask<Float> ODD_QUARTERS = laneBit(Math.max(1, L / 4));
    static final VectorMask<Float> ODD_EIGHTHS = laneBit(Math.max(1, L / 8));
    static final VectorMask<Float> ODD_SIXTEENTHS = laneBit(Math.max(1, L / 16));

    /** Lanes {@code 4h .. 4h+3}: query h's four sums where dot4x4 gathers all sixteen. */
    static final VectorMask<Float>[] QUERY_LANES = queryLanes();

    @SuppressWarnings("unchecked")
    private static VectorMask<Float>[] queryLanes() {
      VectorMask<Float>[] masks = new VectorMask[4];
      for (int h = 0; h < 4; h++) {
        masks[h] = VectorMask.fromLong(F, L == 16 ? 0xFL << (4 * h) : 0);
      }
      return masks;
    }

    private static VectorMask<Float> laneBit(int d) {
      boolean[] bits = new boolean[L];
      for (int i = 0; i < L; i++) {
        bits[i] = (i & d) != 0;
      }
      return VectorMask.fromArray(F, bits, 0);
    }

    static {
      if (L < 4 || L > 16) {
        throw new IllegalStateException("lane sums are written for 4 to 16 lanes, not " + L);
      }
    }

    /** The lanes of {@code acc} summed by halving. */
    static float sum(FloatVector acc) {
      acc = acc.add(acc.rearrange(HALF));
      if (L >= 4) {
        acc = acc.add(acc.rearrange(QUARTER));
      }
      if (L >= 8) {
        acc = acc.add(acc.rearrange(EIGHTH));
      }
      if (L >= 16) {
        acc = acc.add(acc.rearrange(SIXTEENTH));
      }
      return acc.lane(0);
    }

    // The loops below run over one array's index, the others' as offsets from it: written that
    // way, the JIT checks each load's bounds once before the loop instead of at every load.

    static float dot(float[] a, int ao, float[] b, int bo, int n) {
      FloatVector acc = FloatVector.zero(F);
      int end = bo + n - n % L;
      int da = ao - bo;
      for (int i = bo; i < end; i += L) {
        acc = FloatVector.fromArray(F, a, i + da).fma(FloatVector.fromArray(F, b, i), acc);
      }
      return finish(acc, a, ao, b, bo, n - n % L, n);
    }

    static void dot4(
        float[] a, int ao, int stride, float[] b, int bo, int n, float[] out, int at, int step) {
      FloatVector s0 = FloatVector.zero(F);
      FloatVector s1 = s0;
      FloatVector s2 = s0;
      FloatVector s3 = s0;
      int a1 = ao + stride;
      int a2 = a1 + stride;
      int a3 = a2 + stride;
      int end = bo + n - n % L;
      int d0 = ao - bo;
      int d1 = a1 - bo;
      int d2 = a2 - bo;
      int d3 = a3 - bo;
      for (int j = bo; j < end; j += L) {
        FloatVector v = FloatVector.fromArray(F, b, j);
        s0 = FloatVector.fromArray(F, a, j + d0).fma(v, s0);
        s1 = FloatVector.fromArray(F, a, j + d1).fma(v, s1);
        s2 = FloatVector.fromArray(F, a, j + d2).fma(v, s2);
        s3 = FloatVector.fromArray(F, a, j + d3).fma(v, s3);
      }
      storeFourSums(s0, s1, s2, s3, a, ao, stride, b, bo, n - n % L, n, out, at, step);
    }

    /**
     * Writes to {@code out[at + k * step]} the lane sum of {@code s_k} (query k's, the queries
     * {@code stride} apart from {@code ao}, against the row at {@code bo}) plus the elements from
     * {@code i} on. The four sums' lanes by halving, as sum does, but side by side in one vector:
     * lane i of each pairs with lane i + L/2, then i + L/4, ... (a ^ rather than a rotation picks
     * the same pairs for the lanes that reach the result). Five permutations for four sums, not
     * sixteen: 1.03-1.10 times the scoring rate, the sums bit for bit the same. Its callers are the
     * hot kernels it is inlined into (a vector passed to a call the JIT does not inline is boxed):
     * scoring rates were the same with it as with its seven copies written out (one thread, Zen 3).
     */
    private static void storeFourSums(
        FloatVector s0,
        FloatVector s1,
        FloatVector s2,
        FloatVector s3,
        float[] a,
        int ao,
        int stride,
        float[] b,
        int bo,
        int i,
        int n,
        float[] out,
        int at,
        int step) {
      s0 = s0.blend(s1, UPPER_HALF).add(s1.blend(s0, UPPER_HALF).rearrange(XOR_HALF));
      s2 = s2.blend(s3, UPPER_HALF).add(s3.blend(s2, UPPER_HALF).rearrange(XOR_HALF));
      s0 = s0.blend(s2, ODD_QUARTERS).add(s2.blend(s0, ODD_QUARTERS).rearrange(XOR_QUARTER));
      if (L >= 8) {
        s0 = s0.add(s0.rearrange(XOR_EIGHTH));
      }
      if (L >= 16) {
        s0 = s0.add(s0.rearrange(XOR_SIXTEENTH));
      }
      out[at] = tail(s0.lane(0), a, ao, b, bo, i, n);
      out[at + step] = tail(s0.lane(L / 2), a, ao + stride, b, bo, i, n);
      out[at + 2 * step] = tail(s0.lane(L / 4), a, ao + 2 * stride, b, bo, i, n);
      out[at + 3 * step] = tail(s0.lane(3 * L / 4), a, ao + 3 * stride, b, bo, i, n);
    }

    /**
     * {@link #dot4x4} for two rows: eight accumulators, which 16 vector registers (AVX2's) hold
     * beside the rows and a query where sixteen do not. Decode at context 4096 on Zen 3, switched
     * every 2 steps in one process: medians 13.16 against 13.72 ms at batch 1, 82.5 against 86.6 at
     * batch 8. Its loop counts from 0 with each operand's start fixed: counting from {@code bo}
     * with the queries at fixed distances, as {@link #dot4x4} does, scored 28-30 GFLOP/s on one
     * thread (8 heads over 4096 cached rows of 288, in blocks of 64 read ahead) where this scores
     * 36-41; decode at context 4096, alternated: batch 8 medians 104.5 and 93.8 ms against 108.3
     * and 103.1, batch 1 level (20.61, 19.59, 17.53 against 21.52, 19.57, 17.31).
     */
    static void dot4x2(
        float[] a,
        int ao,
        int stride,
        float[] b,
        int bo,
        int bStride,
        int n,
        float[] out,
        int outAt,
        int step) {
      FloatVector s0 = FloatVector.zero(F);
      FloatVector s1 = s0;
      FloatVector s2 = s0;
      FloatVector s3 = s0;
      FloatVector t0 = s0;
      FloatVector t1 = s0;
      FloatVector t2 = s0;
      FloatVector t3 = s0;
      int a1 = ao + stride;
      int a2 = a1 + stride;
      int a3 = a2 + stride;
      int b1 = bo + bStride;
      int whole = n - n % L;
      for (int j = 0; j < whole; j += L) {
        FloatVector r0 = FloatVector.fromArray(F, b, bo + j);
        FloatVector r1 = FloatVector.fromArray(F, b, b1 + j);
        FloatVector q = FloatVector.fromArray(F, a, ao + j);
        s0 = q.fma(r0, s0);
        t0 = q.fma(r1, t0);
        q = FloatVector.fromArray(F, a, a1 + j);
        s1 = q.fma(r0, s1);
        t1 = q.fma(r1, t1);
        q = FloatVector.fromArray(F, a, a2 + j);
        s2 = q.fma(r0, s2);
        t2 = q.fma(r1, t2);
        q = FloatVector.fromArray(F, a, a3 + j);
        s3 = q.fma(r0, s3);
        t3 = q.fma(r1, t3);
      }
      storeFourSums(s0, s1, s2, s3, a, ao, stride, b, bo, whole, n, out, outAt, step);
      storeFourSums(t0, t1, t2, t3, a, ao, stride, b, b1, whole, n, out, outAt + 1, step);
    }

    static void dot4x4(
        float[] a,
        int ao,
        int stride,
        float[] b,
        int bo,
        int bStride,
        int n,
        float[] out,
        int outAt,
        int step) {
      // Accumulators s, t, u, w for rows 0-3, digits for the queries.
      FloatVector s0 = FloatVector.zero(F);
      FloatVector s1 = s0;
      FloatVector s2 = s0;
      FloatVector s3 = s0;
      FloatVector t0 = s0;
      FloatVector t1 = s0;
      FloatVector t2 = s0;
      FloatVector t3 = s0;
      FloatVector u0 = s0;
      FloatVector u1 = s0;
      FloatVector u2 = s0;
      FloatVector u3 = s0;
      FloatVector w0 = s0;
      FloatVector w1 = s0;
      FloatVector w2 = s0;
      FloatVector w3 = s0;
      int a1 = ao + stride;
      int a2 = a1 + stride;
      int a3 = a2 + stride;
      int end = bo + n - n % L;
      int d0 = ao - bo;
      int d1 = a1 - bo;
      int d2 = a2 - bo;
      int d3 = a3 - bo;
      for (int j = bo; j < end; j += L) {
        FloatVector r0 = FloatVector.fromArray(F, b, j);
        FloatVector r1 = FloatVector.fromArray(F, b, j + bStride);
        FloatVector r2 = FloatVector.fromArray(F, b, j + 2 * bStride);
        FloatVector r3 = FloatVector.fromArray(F, b, j + 3 * bStride);
        FloatVector q = FloatVector.fromArray(F, a, j + d0);
        s0 = q.fma(r0, s0);
        t0 = q.fma(r1, t0);
        u0 = q.fma(r2, u0);
        w0 = q.fma(r3, w0);
        q = FloatVector.fromArray(F, a, j + d1);
        s1 = q.fma(r0, s1);
        t1 = q.fma(r1, t1);
        u1 = q.fma(r2, u1);
        w1 = q.fma(r3, w1);
        q = FloatVector.fromArray(F, a, j + d2);
        s2 = q.fma(r0, s2);
        t2 = q.fma(r1, t2);
        u2 = q.fma(r2, u2);
        w2 = q.fma(r3, w2);
        q = FloatVector.fromArray(F, a, j + d3);
        s3 = q.fma(r0, s3);
        t3 = q.fma(r1, t3);
        u3 = q.fma(r2, u3);
        w3 = q.fma(r3, w3);
      }
      if (L == 16 && n % L == 0) {
        // All sixteen sums into one vector, lane 4k + r holding query k's over row r: each
        // accumulator's lanes are paired as halving pairs them (i with i ^ 8, then ^ 4, ^ 2, ^ 1),
        // so every sum is dot's bit for bit, in fifteen merges and four masked stores where the
        // rows' epilogues below take twenty merges and sixteen lanes taken out one by one. Scoring
        // 8 heads of 288 values over cached rows ran 1.6-1.7 times as fast (one thread, in L2).
        FloatVector s02 =
            s0.blend(s2, UPPER_HALF).add(s2.blend(s0, UPPER_HALF).rearrange(XOR_HALF));
        FloatVector s13 =
            s1.blend(s3, UPPER_HALF).add(s3.blend(s1, UPPER_HALF).rearrange(XOR_HALF));
        FloatVector t02 =
            t0.blend(t2, UPPER_HALF).add(t2.blend(t0, UPPER_HALF).rearrange(XOR_HALF));
        FloatVector t13 =
            t1.blend(t3, UPPER_HALF).add(t3.blend(t1, UPPER_HALF).rearrange(XOR_HALF));
        FloatVector u02 =
            u0.blend(u2, UPPER_HALF).add(u2.blend(u0, UPPER_HALF).rearrange(XOR_HALF));
        FloatVector u13 =
            u1.blend(u3, UPPER_HALF).add(u3.blend(u1, UPPER_HALF).rearrange(XOR_HALF));
        FloatVector w02 =
            w0.blend(w2, UPPER_HALF).add(w2.blend(w0, UPPER_HALF).rearrange(XOR_HALF));
        FloatVector w13 =
            w1.blend(w3, UPPER_HALF).add(w3.blend(w1, UPPER_HALF).rearrange(XOR_HALF));
        FloatVector rowS =
            s02.blend(s13, ODD_QUARTERS).add(s13.blend(s02, ODD_QUARTERS).rearrange(XOR_QUARTER));
        FloatVector rowT =
            t02.blend(t13, ODD_QUARTERS).add(t13.blend(t02, ODD_QUARTERS).rearrange(XOR_QUARTER));
        FloatVector rowU =
            u02.blend(u13, ODD_QUARTERS).add(u13.blend(u02, ODD_QUARTERS).rearrange(XOR_QUARTER));
        FloatVector rowW =
            w02.blend(w13, ODD_QUARTERS).add(w13.blend(w02, ODD_QUARTERS).rearrange(XOR_QUARTER));
        FloatVector su =
            rowS.blend(rowU, ODD_EIGHTHS).add(rowU.blend(rowS, ODD_EIGHTHS).rearrange(XOR_EIGHTH));
        FloatVector tw =
            rowT.blend(rowW, ODD_EIGHTHS).add(rowW.blend(rowT, ODD_EIGHTHS).rearrange(XOR_EIGHTH));
        FloatVector all =
            su.blend(tw, ODD_SIXTEENTHS).add(tw.blend(su, ODD_SIXTEENTHS).rearrange(XOR_SIXTEENTH));
        for (int k = 0; k < 4; k++) {
          all.intoArray(out, outAt + k * (step - 4), QUERY_LANES[k]);
        }
        return;
      }
      // Each row's four sums as dot4 takes them.
      int i = n - n % L;
      storeFourSums(s0, s1, s2, s3, a, ao, stride, b, bo, i, n, out, outAt, step);
      storeFourSums(t0, t1, t2, t3, a, ao, stride, b, bo + bStride, i, n, out, outAt + 1, step);
      storeFourSums(u0, u1, u2, u3, a, ao, stride, b, bo + 2 * bStride, i, n, out, outAt + 2, step);
      storeFourSums(w0, w1, w2, w3, a, ao, stride, b, bo + 3 * bStride, i, n, out, outAt + 3, step);
    }

    /** {@code s} plus the elements from {@code i} on. */
    private static float tail(float s, float[] a, int ao, float[] b, int bo, int i, int n) {
      for (; i < n; i++) {
        s += a[ao + i] * b[bo + i];
      }
      return s;
    }

    /** Lanes summed by halving, then the elements from {@code i} on. */
    private static float finish(
        FloatVector acc, float[] a, int ao, float[] b, int bo, int i, int n) {
      return tail(sum(acc), a, ao, b, bo, i, n);
    }

    /** {@link Vectors#expShifted} over whole vectors; returns how many elements it did. */
    static int expShifted(float[] v, int at, int n, float shift) {
      int i = 0;
      for (; i <= n - L; i += L) {
        FloatVector x = FloatVector.fromArray(F, v, at + i).sub(shift);
        FloatVector k = x.fma(LOG2E, ROUNDER).sub(ROUNDER);
        FloatVector r = k.fma(FloatVector.broadcast(F, -LN2_HI), x);
        r = k.fma(FloatVector.broadcast(F, -LN2_LO), r);
        FloatVector p = FloatVector.broadcast(F, TAYLOR[0]);
        for (int c = 1; c < TAYLOR.length; c++) {
          p = p.fma(r, FloatVector.broadcast(F, TAYLOR[c]));
        }
        IntVector e = ((IntVector) k.convert(VectorOperators.F2I, 0)).add(127);
        FloatVector scale = e.lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        p.mul(scale).blend(0f, x.compare(VectorOperators.LT, MIN_EXPONENT)).intoArray(v, at + i);
      }
      return i;
    }

    private static final VectorSpecies<Float> H = FloatVector.SPECIES_256;

    /**
     * Twelve columns a pass (twelve accumulators, a vector of weights and a broadcast fit AVX2's 16
     * registers), then four, then one; a pass's twelve loads from a row are one address apart.
     */
    static void laneWeightedSums(
        float[] p,
        int pAt,
        float[] rows,
        int rowAt,
        int dim,
        int count,
        int cols,
        float[] sums,
        int sumsAt) {
      int c = 0;
      for (; c + 12 <= cols; c += 12) {
        laneWeightedSums12(p, pAt, rows, rowAt + c, dim, count, sums, sumsAt + c * HEAD_LANES);
      }
      for (; c + 4 <= cols; c += 4) {
        laneWeightedSums4(p, pAt, rows, rowAt + c, dim, count, sums, sumsAt + c * HEAD_LANES);
      }
      for (; c < cols; c++) {
        int at = sumsAt + c * HEAD_LANES;
        FloatVector a = FloatVector.fromArray(H, sums, at);
        for (int j = 0; j < count; j++) {
          a =
              FloatVector.fromArray(H, p, pAt + j * HEAD_LANES)
                  .fma(FloatVector.broadcast(H, rows[rowAt + j * dim + c]), a);
        }
        a.intoArray(sums, at);
      }
    }

    private static void laneWeightedSums12(
        float[] p, int pAt, float[] rows, int r, int dim, int count, float[] sums, int at) {
      FloatVector a0 = FloatVector.fromArray(H, sums, at);
      FloatVector a1 = FloatVector.fromArray(H, sums, at + HEAD_LANES);
      FloatVector a2 = FloatVector.fromArray(H, sums, at + 2 * HEAD_LANES);
      FloatVector a3 = FloatVector.fromArray(H, sums, at + 3 * HEAD_LANES);
      FloatVector a4 = FloatVector.fromArray(H, sums, at + 4 * HEAD_LANES);
      FloatVector a5 = FloatVector.fromArray(H, sums, at + 5 * HEAD_LANES);
      FloatVector a6 = FloatVector.fromArray(H, sums, at + 6 * HEAD_LANES);
      FloatVector a7 = FloatVector.fromArray(H, sums, at + 7 * HEAD_LANES);
      FloatVector a8 = FloatVector.fromArray(H, sums, at + 8 * HEAD_LANES);
      FloatVector a9 = FloatVector.fromArray(H, sums, at + 9 * HEAD_LANES);
      FloatVector a10 = FloatVector.fromArray(H, sums, at + 10 * HEAD_LANES);
      FloatVector a11 = FloatVector.fromArray(H, sums, at + 11 * HEAD_LANES);
      for (int j = 0; j < count; j++) {
        FloatVector v = FloatVector.fromArray(H, p, pAt + j * HEAD_LANES);
        int o = r + j * dim;
        a0 = v.fma(FloatVector.broadcast(H, rows[o]), a0);
        a1 = v.fma(FloatVector.broadcast(H, rows[o + 1]), a1);
        a2 = v.fma(FloatVector.broadcast(H, rows[o + 2]), a2);
        a3 = v.fma(FloatVector.broadcast(H, rows[o + 3]), a3);
        a4 = v.fma(FloatVector.broadcast(H, rows[o + 4]), a4);
        a5 = v.fma(FloatVector.broadcast(H, rows[o + 5]), a5);
        a6 = v.fma(FloatVector.broadcast(H, rows[o + 6]), a6);
        a7 = v.fma(FloatVector.broadcast(H, rows[o + 7]), a7);
        a8 = v.fma(FloatVector.broadcast(H, rows[o + 8]), a8);
        a9 = v.fma(FloatVector.broadcast(H, rows[o + 9]), a9);
        a10 = v.fma(FloatVector.broadcast(H, rows[o + 10]), a10);
        a11 = v.fma(FloatVector.broadcast(H, rows[o + 11]), a11);
      }
      a0.intoArray(sums, at);
      a1.intoArray(sums, at + HEAD_LANES);
      a2.intoArray(sums, at + 2 * HEAD_LANES);
      a3.intoArray(sums, at + 3 * HEAD_LANES);
      a4.intoArray(sums, at + 4 * HEAD_LANES);
      a5.intoArray(sums, at + 5 * HEAD_LANES);
      a6.intoArray(sums, at + 6 * HEAD_LANES);
      a7.intoArray(sums, at + 7 * HEAD_LANES);
      a8.intoArray(sums, at + 8 * HEAD_LANES);
      a9.intoArray(sums, at + 9 * HEAD_LANES);
      a10.intoArray(sums, at + 10 * HEAD_LANES);
      a11.intoArray(sums, at + 11 * HEAD_LANES);
    }

    private static void laneWeightedSums4(
        float[] p, int pAt, float[] rows, int r, int dim, int count, float[] sums, int at) {
      FloatVector a0 = FloatVector.fromArray(H, sums, at);
      FloatVector a1 = FloatVector.fromArray(H, sums, at + HEAD_LANES);
      FloatVector a2 = FloatVector.fromArray(H, sums, at + 2 * HEAD_LANES);
      FloatVector a3 = FloatVector.fromArray(H, sums, at + 3 * HEAD_LANES);
      for (int j = 0; j < count; j++) {
        FloatVector v = FloatVector.fromArray(H, p, pAt + j * HEAD_LANES);
        int o = r + j * dim;
        a0 = v.fma(FloatVector.broadcast(H, rows[o]), a0);
        a1 = v.fma(FloatVector.broadcast(H, rows[o + 1]), a1);
        a2 = v.fma(FloatVector.broadcast(H, rows[o + 2]), a2);
        a3 = v.fma(FloatVector.broadcast(H, rows[o + 3]), a3);
      }
      a0.intoArray(sums, at);
      a1.intoArray(sums, at + HEAD_LANES);
      a2.intoArray(sums, at + 2 * HEAD_LANES);
      a3.intoArray(sums, at + 3 * HEAD_LANES);
    }

    /**
     * {@link Vectors#siluTimes} over whole vectors; returns how many elements it did. The
     * exponential is expShifted's, written out again: a vector passed to a call the JIT does not
     * inline is boxed.
     */
    static int siluTimes(float[] gate, float[] up, int n) {
      int i = 0;
      for (; i <= n - L; i += L) {
        FloatVector g = FloatVector.fromArray(F, gate, i);
        FloatVector x = g.abs().neg();
        FloatVector k = x.fma(LOG2E, ROUNDER).sub(ROUNDER);
        FloatVector r = k.fma(FloatVector.broadcast(F, -LN2_HI), x);
        r = k.fma(FloatVector.broadcast(F, -LN2_LO), r);
        FloatVector p = FloatVector.broadcast(F, TAYLOR[0]);
        for (int c = 1; c < TAYLOR.length; c++) {
          p = p.fma(r, FloatVector.broadcast(F, TAYLOR[c]));
        }
        IntVector e = ((IntVector) k.convert(VectorOperators.F2I, 0)).add(127);
        FloatVector scale = e.lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        FloatVector t = p.mul(scale).blend(0f, x.compare(VectorOperators.LT, MIN_EXPONENT));
        g.blend(g.mul(t), g.compare(VectorOperators.LT, 0f))
            .div(t.add(1f))
            .mul(FloatVector.fromArray(F, up, i))
            .intoArray(gate, i);
      }
      return i;
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
