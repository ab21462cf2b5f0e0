package io.disaggmoe.model.kernel;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Attention's dot products, softmax weights and weighted sums, scaled adds and SwiGLU over float
 * arrays with the Vector API (plain loops when the module is absent). Each sums in one fixed order
 * for given lengths, so a result depends only on its operands: every sum stays in its own lane,
 * never {@code reduceLanes}, whose order differs between the interpreter and compiled code (a row's
 * logits changed when the JIT compiled it mid-decode).
 */
public final class Vectors {
  private static final boolean VECTOR = MatMul.vectorAvailable();

  private Vectors() {}

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
   * Heads a lane each in the {@code lane} methods below: eight, one AVX2 vector (a 256-bit one on
   * wider hardware too). Their arrays hold a head's value of each row or column side by side
   * ({@code [.., HEAD_LANES]}), and each lane's result is the plain loop's below it, bit for bit.
   */
  public static final int HEAD_LANES = 8;

  private static final boolean LANE_VECTORS = VECTOR && Simd.LANES >= HEAD_LANES;

  /**
   * For each of {@code count} rows {@code r_j} at {@code rows[rowAt + j * dim]} and each lane
   * {@code h}: {@code out[outAt + j * HEAD_LANES + h] = Σ_k q[qAt + k * HEAD_LANES + h] * r_j[k]}
   * over {@code k < dim}, the queries laid out lane-wise ({@code [dim, HEAD_LANES]}). Each sum is
   * two chains of multiply-adds in {@code k} order, the even {@code k} and the odd, then their sum:
   * no lane sums, and the same bits whatever the rows or lanes beside it.
   */
  public static void laneDots(
      float[] q, int qAt, float[] rows, int rowAt, int dim, int count, float[] out, int outAt) {
    if (LANE_VECTORS) {
      Simd.laneDots(q, qAt, rows, rowAt, dim, count, out, outAt);
      return;
    }
    for (int j = 0; j < count; j++) {
      for (int h = 0; h < HEAD_LANES; h++) {
        float even = 0;
        float odd = 0;
        for (int k = 0; k < dim; k++) {
          float qk = q[qAt + k * HEAD_LANES + h];
          if (k % 2 == 0) {
            even = Math.fma(qk, rows[rowAt + j * dim + k], even);
          } else {
            odd = Math.fma(qk, rows[rowAt + j * dim + k], odd);
          }
        }
        out[outAt + j * HEAD_LANES + h] = even + odd;
      }
    }
  }

  /**
   * For each lane {@code h}: {@code v[at + j * HEAD_LANES + h] *= scale} for {@code j < count}, and
   * {@code top[h]} raised to the largest of them.
   */
  public static void laneScaleMax(float[] v, int at, int count, float scale, float[] top) {
    if (LANE_VECTORS) {
      Simd.laneScaleMax(v, at, count, scale, top);
      return;
    }
    for (int j = 0; j < count; j++) {
      for (int h = 0; h < HEAD_LANES; h++) {
        int i = at + j * HEAD_LANES + h;
        v[i] *= scale;
        top[h] = Math.max(top[h], v[i]);
      }
    }
  }

  /** {@code v[at + j * HEAD_LANES + h] *= factor[h]} for {@code j < count}. */
  public static void laneScale(float[] v, int at, int count, float[] factor) {
    if (LANE_VECTORS) {
      Simd.laneScale(v, at, count, factor);
      return;
    }
    for (int j = 0; j < count; j++) {
      for (int h = 0; h < HEAD_LANES; h++) {
        v[at + j * HEAD_LANES + h] *= factor[h];
      }
    }
  }

  /**
   * {@code y[yAt + j * HEAD_LANES + h] = fma(factor[h], x[xAt + j * HEAD_LANES + h], y[yAt + j *
   * HEAD_LANES + h])} for {@code j < count}: one rounding each, vectorized or not.
   */
  public static void laneFma(float[] factor, float[] x, int xAt, float[] y, int yAt, int count) {
    if (LANE_VECTORS) {
      Simd.laneFma(factor, x, xAt, y, yAt, count);
      return;
    }
    for (int j = 0; j < count; j++) {
      for (int h = 0; h < HEAD_LANES; h++) {
        int i = j * HEAD_LANES + h;
        y[yAt + i] = Math.fma(factor[h], x[xAt + i], y[yAt + i]);
      }
    }
  }

  /**
   * {@code v[at + j * HEAD_LANES + h] = e^(v[at + j * HEAD_LANES + h] - shift[h])} for {@code j <
   * count}, where no value exceeds its lane's shift (a softmax's weights, one query a lane): each
   * element {@link #expOfNonPositive} of its difference, the same float operations whether
   * vectorized or not, so the value does not depend on the JIT's state nor on the hardware, unlike
   * {@code VectorOperators.EXP}; {@code (float) Math.exp} took 14 ns an element here, this takes
   * well under one.
   */
  public static void expShiftedLanes(float[] v, int at, int count, float[] shift) {
    if (LANE_VECTORS) {
      Simd.expShiftedLanes(v, at, count, shift);
      return;
    }
    for (int j = 0; j < count; j++) {
      for (int h = 0; h < HEAD_LANES; h++) {
        int i = at + j * HEAD_LANES + h;
        v[i] = expOfNonPositive(v[i] - shift[h]);
      }
    }
  }

  /**
   * {@code p[i] = e^((x[i] - max) * scale)} for {@code i < n}, 0 where that is below {@code floor},
   * where no {@code x[i]} exceeds {@code max} and {@code scale > 0}: a sampler's unnormalised
   * probabilities at a temperature, with min-p's cut. Returns their sum in double, in one order
   * that depends only on {@code n} (element {@code i} summed in order into lane {@code i % 8}, then
   * the lanes in order), so it, like each value ({@link #expOfNonPositive}), is the same whatever
   * the JIT's state or the hardware: a seeded request draws the same tokens on every instance.
   * {@code (float) Math.exp} took 1.3 ms over DeepSeek-V3's 129,280 tokens here, half of a
   * tiny-model decode step at batch 16.
   */
  public static double expScaled(float[] x, float max, float scale, float floor, float[] p, int n) {
    for (int i = 0; i < n; i++) {
      p[i] = (x[i] - max) * scale;
    }
    // Eight tokens a lane group, each lane shifted by nothing: the values above, exactly.
    int groups = n / HEAD_LANES;
    expShiftedLanes(p, 0, groups, new float[HEAD_LANES]);
    for (int i = groups * HEAD_LANES; i < n; i++) {
      p[i] = expOfNonPositive(p[i]);
    }
    for (int i = 0; i < n; i++) {
      if (p[i] < floor) {
        p[i] = 0f;
      }
    }
    double[] total = new double[HEAD_LANES];
    laneTotals(p, 0, groups, total);
    for (int i = groups * HEAD_LANES; i < n; i++) {
      total[i % HEAD_LANES] += p[i];
    }
    double sum = 0;
    for (double t : total) {
      sum += t;
    }
    return sum;
  }

  /** {@code total[h] += v[at + j * HEAD_LANES + h]} for {@code j < count} in order, in double. */
  public static void laneTotals(float[] v, int at, int count, double[] total) {
    if (LANE_VECTORS) {
      Simd.laneTotals(v, at, count, total);
      return;
    }
    for (int j = 0; j < count; j++) {
      for (int h = 0; h < HEAD_LANES; h++) {
        total[h] += v[at + j * HEAD_LANES + h];
      }
    }
  }

  /**
   * For each column {@code c < cols} and lane {@code h} of {@link #HEAD_LANES}: {@code sums[sumsAt
   * + c * HEAD_LANES + h] += Σ_j p[pAt + j * HEAD_LANES + h] * rows[rowAt + j * dim + c]} over
   * {@code j < count}: weighted sums of the rows' first {@code cols} values, the weights and the
   * sums laid out lane-wise. Each is one multiply-add after another in {@code j} order onto the sum
   * given, so calls over consecutive runs of rows add up to one call over all of them, bit for bit,
   * vectorized or not.
   *
   * <p>Meanwhile it reads {@code aheadLength} floats of {@code ahead} from {@code aheadAt}, a cache
   * line in each row of a pass, and returns a sum of what it read (for a sink): the rows a caller
   * scores next then come from memory while these are weighted from cache, instead of being read
   * alone after them. Without the Vector API nothing is read ahead.
   */
  public static int laneWeightedSums(
      float[] p,
      int pAt,
      float[] rows,
      int rowAt,
      int dim,
      int count,
      int cols,
      float[] sums,
      int sumsAt,
      float[] ahead,
      int aheadAt,
      int aheadLength) {
    if (LANE_VECTORS) {
      return Simd.laneWeightedSums(
          p, pAt, rows, rowAt, dim, count, cols, sums, sumsAt, ahead, aheadAt, aheadLength);
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
    return 0;
  }

  /**
   * The most floats {@link #laneWeightedSums} reads ahead over {@code count} rows of {@code cols}
   * columns.
   */
  public static int aheadCapacity(int count, int cols) {
    return LANE_VECTORS ? Simd.aheadCapacity(count, cols) : 0;
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

  /**
   * The greatest of {@code x[0 .. n)}, NaN when any is NaN, {@code -inf} when {@code n} is 0. With
   * {@link #indexOf} a sampler's greedy pick: the scalar loop took 6% of a tiny-model decode role's
   * time at batch 64, one sequence after another on the decode thread.
   */
  public static float max(float[] x, int n) {
    int i = VECTOR ? n - n % Simd.LANES : 0;
    float max = VECTOR ? Simd.max(x, i) : Float.NEGATIVE_INFINITY;
    for (; i < n; i++) {
      max = Math.max(max, x[i]);
    }
    return max;
  }

  /** The first {@code i < n} with {@code x[i] == value}, or -1 (as for a NaN value). */
  public static int indexOf(float[] x, int n, float value) {
    int i = 0;
    if (VECTOR) {
      i = Simd.indexOf(x, n, value);
      if (i < n - n % Simd.LANES) {
        return i;
      }
    }
    for (; i < n; i++) {
      if (x[i] == value) {
        return i;
      }
    }
    return -1;
  }

  /** {@code e^x} for {@code x <= 0}, as {@link #expShiftedLanes} computes it. */
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

  /** Kept apart so that no Vector API class loads where the module is absent. */
  static final class Simd {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();

    /**
     * Whether the vector registers are 32 (AVX-512's, taken as 512-bit vectors), not 16 (AVX2's):
     * kernels whose accumulators fit only the 32 ({@code Bf16MatMul}'s read-ahead) give way to
     * narrower forms on the 16.
     */
    static final boolean WIDE_REGISTERS = F.vectorBitSize() >= 512;

    /** Floats in one of the kernels' vectors. */
    static final int LANES = L;

    private static final VectorSpecies<Float> H = FloatVector.SPECIES_256;

    /**
     * Six rows a pass, two chains each (twelve accumulators, two query vectors and a broadcast in
     * AVX2's 16 registers; six rows' offsets in the general registers, where twelve spilled to the
     * stack because the row length is not a constant), then four (a block of 64 rows ends in four),
     * then one at a time.
     */
    static void laneDots(
        float[] q, int qAt, float[] rows, int rowAt, int dim, int count, float[] out, int outAt) {
      int j = 0;
      for (; j + 6 <= count; j += 6) {
        laneDots6(q, qAt, rows, rowAt + j * dim, dim, out, outAt + j * HEAD_LANES);
      }
      for (; j + 4 <= count; j += 4) {
        laneDots4(q, qAt, rows, rowAt + j * dim, dim, out, outAt + j * HEAD_LANES);
      }
      for (; j < count; j++) {
        int r = rowAt + j * dim;
        FloatVector a = FloatVector.zero(H);
        FloatVector b = a;
        for (int p = 0, passes = dim / 2; p < passes; p++) {
          int k = 2 * p;
          a = FloatVector.fromArray(H, q, qAt + k * HEAD_LANES).fma(broadcast(rows, r + k), a);
          b =
              FloatVector.fromArray(H, q, qAt + (k + 1) * HEAD_LANES)
                  .fma(broadcast(rows, r + k + 1), b);
        }
        if (dim % 2 == 1) {
          a =
              FloatVector.fromArray(H, q, qAt + (dim - 1) * HEAD_LANES)
                  .fma(broadcast(rows, r + dim - 1), a);
        }
        a.add(b).intoArray(out, outAt + j * HEAD_LANES);
      }
    }

    private static FloatVector broadcast(float[] v, int i) {
      return FloatVector.broadcast(H, v[i]);
    }

    private static void laneDots6(
        float[] q, int qAt, float[] rows, int r, int dim, float[] out, int outAt) {
      FloatVector z = FloatVector.zero(H);
      FloatVector a0 = z, a1 = z, a2 = z, a3 = z, a4 = z, a5 = z;
      FloatVector b0 = z, b1 = z, b2 = z, b3 = z, b4 = z, b5 = z;
      int r1 = r + dim, r2 = r1 + dim, r3 = r2 + dim, r4 = r3 + dim, r5 = r4 + dim;
      for (int p = 0, passes = dim / 2; p < passes; p++) {
        int k = 2 * p;
        FloatVector v = FloatVector.fromArray(H, q, qAt + k * HEAD_LANES);
        a0 = v.fma(broadcast(rows, r + k), a0);
        a1 = v.fma(broadcast(rows, r1 + k), a1);
        a2 = v.fma(broadcast(rows, r2 + k), a2);
        a3 = v.fma(broadcast(rows, r3 + k), a3);
        a4 = v.fma(broadcast(rows, r4 + k), a4);
        a5 = v.fma(broadcast(rows, r5 + k), a5);
        v = FloatVector.fromArray(H, q, qAt + (k + 1) * HEAD_LANES);
        b0 = v.fma(broadcast(rows, r + k + 1), b0);
        b1 = v.fma(broadcast(rows, r1 + k + 1), b1);
        b2 = v.fma(broadcast(rows, r2 + k + 1), b2);
        b3 = v.fma(broadcast(rows, r3 + k + 1), b3);
        b4 = v.fma(broadcast(rows, r4 + k + 1), b4);
        b5 = v.fma(broadcast(rows, r5 + k + 1), b5);
      }
      if (dim % 2 == 1) {
        int k = dim - 1;
        FloatVector v = FloatVector.fromArray(H, q, qAt + k * HEAD_LANES);
        a0 = v.fma(broadcast(rows, r + k), a0);
        a1 = v.fma(broadcast(rows, r1 + k), a1);
        a2 = v.fma(broadcast(rows, r2 + k), a2);
        a3 = v.fma(broadcast(rows, r3 + k), a3);
        a4 = v.fma(broadcast(rows, r4 + k), a4);
        a5 = v.fma(broadcast(rows, r5 + k), a5);
      }
      a0.add(b0).intoArray(out, outAt);
      a1.add(b1).intoArray(out, outAt + HEAD_LANES);
      a2.add(b2).intoArray(out, outAt + 2 * HEAD_LANES);
      a3.add(b3).intoArray(out, outAt + 3 * HEAD_LANES);
      a4.add(b4).intoArray(out, outAt + 4 * HEAD_LANES);
      a5.add(b5).intoArray(out, outAt + 5 * HEAD_LANES);
    }

    private static void laneDots4(
        float[] q, int qAt, float[] rows, int r, int dim, float[] out, int outAt) {
      FloatVector z = FloatVector.zero(H);
      FloatVector a0 = z, a1 = z, a2 = z, a3 = z, b0 = z, b1 = z, b2 = z, b3 = z;
      int r1 = r + dim, r2 = r1 + dim, r3 = r2 + dim;
      for (int p = 0, passes = dim / 2; p < passes; p++) {
        int k = 2 * p;
        FloatVector v = FloatVector.fromArray(H, q, qAt + k * HEAD_LANES);
        a0 = v.fma(broadcast(rows, r + k), a0);
        a1 = v.fma(broadcast(rows, r1 + k), a1);
        a2 = v.fma(broadcast(rows, r2 + k), a2);
        a3 = v.fma(broadcast(rows, r3 + k), a3);
        v = FloatVector.fromArray(H, q, qAt + (k + 1) * HEAD_LANES);
        b0 = v.fma(broadcast(rows, r + k + 1), b0);
        b1 = v.fma(broadcast(rows, r1 + k + 1), b1);
        b2 = v.fma(broadcast(rows, r2 + k + 1), b2);
        b3 = v.fma(broadcast(rows, r3 + k + 1), b3);
      }
      if (dim % 2 == 1) {
        int k = dim - 1;
        FloatVector v = FloatVector.fromArray(H, q, qAt + k * HEAD_LANES);
        a0 = v.fma(broadcast(rows, r + k), a0);
        a1 = v.fma(broadcast(rows, r1 + k), a1);
        a2 = v.fma(broadcast(rows, r2 + k), a2);
        a3 = v.fma(broadcast(rows, r3 + k), a3);
      }
      a0.add(b0).intoArray(out, outAt);
      a1.add(b1).intoArray(out, outAt + HEAD_LANES);
      a2.add(b2).intoArray(out, outAt + 2 * HEAD_LANES);
      a3.add(b3).intoArray(out, outAt + 3 * HEAD_LANES);
    }

    static void laneScaleMax(float[] v, int at, int count, float scale, float[] top) {
      FloatVector m = FloatVector.fromArray(H, top, 0);
      for (int j = 0; j < count; j++) {
        int i = at + j * HEAD_LANES;
        FloatVector x = FloatVector.fromArray(H, v, i).mul(scale);
        x.intoArray(v, i);
        m = m.max(x);
      }
      m.intoArray(top, 0);
    }

    static void laneScale(float[] v, int at, int count, float[] factor) {
      FloatVector f = FloatVector.fromArray(H, factor, 0);
      for (int j = 0; j < count; j++) {
        int i = at + j * HEAD_LANES;
        FloatVector.fromArray(H, v, i).mul(f).intoArray(v, i);
      }
    }

    static void laneFma(float[] factor, float[] x, int xAt, float[] y, int yAt, int count) {
      FloatVector f = FloatVector.fromArray(H, factor, 0);
      for (int j = 0; j < count; j++) {
        int i = j * HEAD_LANES;
        FloatVector.fromArray(H, x, xAt + i)
            .fma(f, FloatVector.fromArray(H, y, yAt + i))
            .intoArray(y, yAt + i);
      }
    }

    static void expShiftedLanes(float[] v, int at, int count, float[] shift) {
      FloatVector s = FloatVector.fromArray(H, shift, 0);
      for (int j = 0; j < count; j++) {
        int i = at + j * HEAD_LANES;
        FloatVector x = FloatVector.fromArray(H, v, i).sub(s);
        FloatVector k = x.fma(LOG2E, ROUNDER).sub(ROUNDER);
        FloatVector r = k.fma(FloatVector.broadcast(H, -LN2_HI), x);
        r = k.fma(FloatVector.broadcast(H, -LN2_LO), r);
        FloatVector e = FloatVector.broadcast(H, TAYLOR[0]);
        for (int c = 1; c < TAYLOR.length; c++) {
          e = e.fma(r, FloatVector.broadcast(H, TAYLOR[c]));
        }
        IntVector bits = ((IntVector) k.convert(VectorOperators.F2I, 0)).add(127);
        FloatVector scale = bits.lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        e.mul(scale).blend(0f, x.compare(VectorOperators.LT, MIN_EXPONENT)).intoArray(v, i);
      }
    }

    static void laneTotals(float[] v, int at, int count, double[] total) {
      DoubleVector low = DoubleVector.fromArray(DoubleVector.SPECIES_256, total, 0);
      DoubleVector high = DoubleVector.fromArray(DoubleVector.SPECIES_256, total, 4);
      for (int j = 0; j < count; j++) {
        FloatVector x = FloatVector.fromArray(H, v, at + j * HEAD_LANES);
        low =
            low.add(
                (DoubleVector) x.convertShape(VectorOperators.F2D, DoubleVector.SPECIES_256, 0));
        high =
            high.add(
                (DoubleVector) x.convertShape(VectorOperators.F2D, DoubleVector.SPECIES_256, 1));
      }
      low.intoArray(total, 0);
      high.intoArray(total, 4);
    }

    /**
     * Twelve columns a pass (twelve accumulators, a vector of weights and a broadcast fit AVX2's 16
     * registers), then four, then one; a pass's twelve loads from a row are one address apart. The
     * reads ahead go into the twelve-column passes, as evenly as the rows allow, one int load a row
     * (into a general register: the vector registers are full).
     */
    static int laneWeightedSums(
        float[] p,
        int pAt,
        float[] rows,
        int rowAt,
        int dim,
        int count,
        int cols,
        float[] sums,
        int sumsAt,
        float[] ahead,
        int aheadAt,
        int aheadLength) {
      int c = 0;
      int sink = 0;
      int lines = aheadLength / LINE_FLOATS;
      int perPass = Math.min(count, (lines + cols / 12 - 1) / Math.max(1, cols / 12));
      for (int pass = 0; c + 12 <= cols; c += 12, pass++) {
        int touches = Math.max(0, Math.min(perPass, lines - pass * perPass));
        sink +=
            laneWeightedSums12(
                p,
                pAt,
                rows,
                rowAt + c,
                dim,
                count,
                sums,
                sumsAt + c * HEAD_LANES,
                ahead,
                aheadAt + pass * perPass * LINE_FLOATS,
                touches);
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
      return sink;
    }

    /** Floats in a cache line: the stride of the reads ahead. */
    private static final int LINE_FLOATS = 16;

    static int aheadCapacity(int count, int cols) {
      return cols / 12 * count * LINE_FLOATS;
    }

    private static int laneWeightedSums12(
        float[] p,
        int pAt,
        float[] rows,
        int r,
        int dim,
        int count,
        float[] sums,
        int at,
        float[] ahead,
        int aheadAt,
        int touches) {
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
      int sink = 0;
      // The reads ahead as a branch in one loop ran level with a loop for the rows that read and
      // another for the rest: medians 12.8, 13.3, 15.5 against 12.7, 13.0, 15.6 us a block of 64
      // rows from memory, three runs alternated in one process.
      for (int j = 0; j < count; j++) {
        if (j < touches) {
          sink += Float.floatToRawIntBits(ahead[aheadAt + j * LINE_FLOATS]);
        }
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
      return sink;
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

    /** The greatest of {@code x[0 .. n)}, {@code n} a multiple of the lanes. */
    static float max(float[] x, int n) {
      FloatVector m = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
      for (int i = 0; i < n; i += L) {
        m = m.max(FloatVector.fromArray(F, x, i));
      }
      float max = Float.NEGATIVE_INFINITY;
      for (float lane : m.toArray()) {
        max = Math.max(max, lane);
      }
      return max;
    }

    /**
     * The first index over whole vectors holding {@code value}, or the elements done when none
     * does.
     */
    static int indexOf(float[] x, int n, float value) {
      FloatVector v = FloatVector.broadcast(F, value);
      int i = 0;
      for (; i <= n - L; i += L) {
        VectorMask<Float> equal = FloatVector.fromArray(F, x, i).compare(VectorOperators.EQ, v);
        if (equal.anyTrue()) {
          return i + equal.firstTrue();
        }
      }
      return i;
    }

    /**
     * {@link Vectors#siluTimes} over whole vectors; returns how many elements it did. The
     * exponential is expShiftedLanes', written out again: a vector passed to a call the JIT does
     * not inline is boxed.
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
  }
}
