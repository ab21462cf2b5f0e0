package io.disaggmoe.model.kernel;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * A small matrix {@code W [inner, outputs]} applied to a row as {@code y = Σ_d x[d] · W[d, :]}: a
 * combination of its rows, each output a lane of an accumulator, so no output ever sums lanes.
 * Absorbed attention's per-head folds are such matrices (64 x 256 and 256 x 64 in `bench`): as
 * {@link WeightMatrix} dot products of 64 values, each output's lane sum cost more than its
 * arithmetic. Timed inside bench decode steps (separate runs on a noisy VM), the folds took 0.9-1.8
 * ms of a batch-8 step that way and 0.5-1.0 ms this way, level at batch 1 (0.3-0.7 ms); a
 * one-process harness ran this 4x faster for a 512-row prompt chunk. Whole steps alternating the
 * two in one process: 0.92-1.04 at batch 8, 0.93-1.11 at batch 1, within this VM's noise.
 *
 * <p>Held as BF16 when every value is one, else as float32. BF16 goes two outputs to an int as
 * {@link Bf16MatMul} widens them, output {@code o} in the low half and {@code o + outputs / 2} in
 * the high one, so that each half lands in place in {@code y}. Each output is {@code fma(x[d], W[d,
 * o], ·)} over {@code d} in order, vectorized or not, so a row's result depends on that row alone
 * and is the same on every path.
 */
public final class RowCombination {
  private static final boolean VECTOR = MatMul.vectorAvailable();
  private static final int ODD = 0xFFFF0000;

  /**
   * Outputs in a panel: the values are stored a panel at a time, every row's share of 64 outputs
   * together, so that the kernel, which keeps a panel's sums in registers down all the rows, reads
   * memory in order. Row-major, it strode through the matrix a row's width at a time and read the
   * 64 x 256 folds at 4-8 GB/s.
   */
  private static final int PANEL_OUTPUTS = 64;

  private final int inner;
  private final int outputs;
  // One of the two: BF16 pairs (outputs o and o + outputs / 2 in an int) or float32, by panels.
  private final int[] pairs;
  private final float[] f32;

  private RowCombination(int inner, int outputs, int[] pairs, float[] f32) {
    this.inner = inner;
    this.outputs = outputs;
    this.pairs = pairs;
    this.f32 = f32;
  }

  /**
   * {@code values}: {@code [inner, outputs]} row-major, kept as BF16 when each is exactly one and
   * {@code outputs} is even.
   */
  public static RowCombination of(int inner, int outputs, float[] values) {
    if (values.length != inner * outputs) {
      throw new IllegalArgumentException(
          "a "
              + inner
              + " x "
              + outputs
              + " matrix has "
              + inner * outputs
              + " values, got "
              + values.length);
    }
    boolean bf16 = outputs % 2 == 0;
    for (float v : values) {
      bf16 &= (Float.floatToRawIntBits(v) & 0xFFFF) == 0;
    }
    if (!bf16) {
      float[] f32 = new float[values.length];
      for (int d = 0; d < inner; d++) {
        for (int o = 0; o < outputs; o++) {
          f32[index(inner, outputs, PANEL_OUTPUTS, d, o)] = values[d * outputs + o];
        }
      }
      return new RowCombination(inner, outputs, null, f32);
    }
    int cols = outputs / 2;
    int[] pairs = new int[values.length / 2];
    for (int d = 0; d < inner; d++) {
      for (int p = 0; p < cols; p++) {
        int at = d * outputs + p;
        pairs[index(inner, cols, PANEL_OUTPUTS / 2, d, p)] =
            (Float.floatToRawIntBits(values[at]) >>> 16)
                | (Float.floatToRawIntBits(values[at + cols]) & ODD);
      }
    }
    return new RowCombination(inner, outputs, pairs, null);
  }

  /**
   * Where column {@code c} of row {@code d} is stored, of {@code cols} per row: in whole panels of
   * {@code width} columns ({@code [panel][inner][width]}), then the columns past them ({@code
   * [inner][rest]}).
   */
  private static int index(int inner, int cols, int width, int d, int c) {
    int full = cols / width;
    if (c < full * width) {
      return ((c / width) * inner + d) * width + c % width;
    }
    return full * width * inner + d * (cols - full * width) + c - full * width;
  }

  /** Whether the values are held as BF16. */
  public boolean isBf16() {
    return pairs != null;
  }

  /** Bytes of the values as held. */
  public long bytes() {
    return pairs != null ? 4L * pairs.length : 4L * f32.length;
  }

  /** {@code y[yAt + o] = Σ_d x[xAt + d] · W[d, o]} for every output {@code o}. */
  public void multiply(float[] x, int xAt, float[] y, int yAt) {
    if (pairs == null) {
      int width = PANEL_OUTPUTS;
      int done = VECTOR ? Simd.f32(f32, inner, outputs / width, x, xAt, y, yAt) : 0;
      for (int o = done; o < outputs; o++) {
        float s = 0;
        for (int d = 0; d < inner; d++) {
          s = Math.fma(x[xAt + d], f32[index(inner, outputs, width, d, o)], s);
        }
        y[yAt + o] = s;
      }
      return;
    }
    int cols = outputs / 2;
    int width = PANEL_OUTPUTS / 2;
    int done = VECTOR ? Simd.bf16(pairs, inner, cols / width, x, xAt, y, yAt, cols) : 0;
    for (int p = done; p < cols; p++) {
      float low = 0;
      float high = 0;
      for (int d = 0; d < inner; d++) {
        int v = pairs[index(inner, cols, width, d, p)];
        low = Math.fma(x[xAt + d], Float.intBitsToFloat(v << 16), low);
        high = Math.fma(x[xAt + d], Float.intBitsToFloat(v & ODD), high);
      }
      y[yAt + p] = low;
      y[yAt + cols + p] = high;
    }
  }

  /**
   * The vectorized part, in its own class so the module is touched only when present: whole panels,
   * each chunk of a panel's sums in registers down all the rows. Sixteen sums at a time (a row of
   * 256 BF16 outputs read whole) ran 1.4x faster in a one-process harness but 2-5x slower in the
   * model, where the JIT compiled it badly more often than not; adding each row into the outputs in
   * memory ran 0.6x.
   */
  private static final class Simd {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    private static final int L = F.length();

    /**
     * {@code panels} panels of pairs: their low halves into {@code y} from {@code yAt}, their high
     * halves from {@code yAt + half}; returns the pairs done.
     */
    static int bf16(
        int[] w, int inner, int panels, float[] x, int xAt, float[] y, int yAt, int half) {
      int width = PANEL_OUTPUTS / 2;
      for (int k = 0; k < panels; k++) {
        for (int c = 0; c < width; c += 2 * L) {
          int at = yAt + k * width + c;
          fourSums(w, k * inner * width + c, width, inner, x, xAt, y, at, at + half);
        }
      }
      return panels * width;
    }

    /** Two vectors of pairs, from {@code start}, one row every {@code stride}. */
    private static void fourSums(
        int[] w,
        int start,
        int stride,
        int inner,
        float[] x,
        int xAt,
        float[] y,
        int low,
        int high) {
      FloatVector e0 = FloatVector.zero(F);
      FloatVector o0 = e0;
      FloatVector e1 = e0;
      FloatVector o1 = e0;
      int end = start + inner * stride;
      int dx = xAt;
      for (int i = start; i < end; i += stride, dx++) {
        FloatVector xb = FloatVector.broadcast(F, x[dx]);
        IntVector v0 = IntVector.fromArray(I, w, i);
        IntVector v1 = IntVector.fromArray(I, w, i + L);
        e0 = xb.fma(Bf16MatMul.even(v0), e0);
        o0 = xb.fma(Bf16MatMul.odd(v0), o0);
        e1 = xb.fma(Bf16MatMul.even(v1), e1);
        o1 = xb.fma(Bf16MatMul.odd(v1), o1);
      }
      e0.intoArray(y, low);
      e1.intoArray(y, low + L);
      o0.intoArray(y, high);
      o1.intoArray(y, high + L);
    }

    /** {@code panels} panels of outputs into {@code y}; returns the outputs done. */
    static int f32(float[] w, int inner, int panels, float[] x, int xAt, float[] y, int yAt) {
      int width = PANEL_OUTPUTS;
      for (int k = 0; k < panels; k++) {
        for (int c = 0; c < width; c += 4 * L) {
          int end = (k * inner + inner) * width + c;
          FloatVector a0 = FloatVector.zero(F);
          FloatVector a1 = a0;
          FloatVector a2 = a0;
          FloatVector a3 = a0;
          int dx = xAt;
          for (int i = k * inner * width + c; i < end; i += width, dx++) {
            FloatVector xb = FloatVector.broadcast(F, x[dx]);
            a0 = xb.fma(FloatVector.fromArray(F, w, i), a0);
            a1 = xb.fma(FloatVector.fromArray(F, w, i + L), a1);
            a2 = xb.fma(FloatVector.fromArray(F, w, i + 2 * L), a2);
            a3 = xb.fma(FloatVector.fromArray(F, w, i + 3 * L), a3);
          }
          int at = yAt + k * width + c;
          a0.intoArray(y, at);
          a1.intoArray(y, at + L);
          a2.intoArray(y, at + 2 * L);
          a3.intoArray(y, at + 3 * L);
        }
      }
      return panels * width;
    }
  }
}
