package io.disaggmoe.model.kernel;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.disaggmoe.model.weights.DType;
import io.disaggmoe.model.weights.Fp8E4m3;

/**
 * A linear layer's weight {@code [rows, cols]} held in its checkpoint dtype (float32, BF16, F16, or
 * F8_E4M3 with block scales) and widened to float32 only inside the kernels that read it, so a step
 * reads the checkpoint's bytes and no more. The math is float32 throughout.
 *
 * <p>Why on-heap arrays rather than mapped files: the project targets Java 21 bytecode, where the
 * memory-segment API that the Vector API loads from is still a preview feature; arrays are what the
 * Vector API reads without it.
 */
public final class WeightMatrix {
  private final String name;
  private final DType dtype;
  private final int rows;
  private final int cols;
  private final float[] f32;
  private final int[] pairs;
  private final int pairCols;
  private final int[] halfPairs;
  private final int[] quads;
  private final int quadCols;
  private final float[] scales;
  private final int blockRows;
  private final int blockCols;
  private final int scaleCols;

  private WeightMatrix(
      String name,
      DType dtype,
      int rows,
      int cols,
      float[] f32,
      int[] pairs,
      int[] halfPairs,
      int[] quads,
      float[] scales,
      int blockRows,
      int blockCols) {
    this.name = name;
    this.dtype = dtype;
    this.rows = rows;
    this.cols = cols;
    this.f32 = f32;
    this.pairs = pairs;
    this.pairCols = (cols + 1) / 2;
    this.halfPairs = halfPairs;
    this.quads = quads;
    this.quadCols = (cols + 3) / 4;
    this.scales = scales;
    this.blockRows = blockRows;
    this.blockCols = blockCols;
    this.scaleCols = blockCols == 0 ? 0 : (cols + blockCols - 1) / blockCols;
  }

  public static WeightMatrix ofF32(String name, int rows, int cols, float[] values) {
    check(name, rows, cols, values.length);
    return new WeightMatrix(name, DType.F32, rows, cols, values, null, null, null, null, 0, 0);
  }

  /**
   * {@code bits}: BF16 or F16 values as stored. BF16 is kept as column pairs (see {@link
   * #ofBf16Pairs}).
   */
  public static WeightMatrix ofHalf(String name, DType dtype, int rows, int cols, short[] bits) {
    if (dtype != DType.BF16 && dtype != DType.F16) {
      throw new IllegalArgumentException(name + ": " + dtype + " is not a 16-bit float dtype");
    }
    check(name, rows, cols, bits.length);
    int pc = (cols + 1) / 2;
    int[] packed = new int[rows * pc];
    for (int r = 0; r < rows; r++) {
      for (int c = 0; c < cols; c++) {
        packed[r * pc + c / 2] |= (bits[r * cols + c] & 0xFFFF) << (16 * (c & 1));
      }
    }
    return dtype == DType.BF16
        ? ofBf16Pairs(name, rows, cols, packed)
        : ofF16Pairs(name, rows, cols, packed);
  }

  /**
   * F16 values two columns to an int, the even column in the low half (a row-major F16 tensor's
   * little-endian bytes read as ints, each row padded with a zero column when {@code cols} is odd),
   * held in tiles as BF16's are (see {@link #ofBf16Pairs}); {@link F16MatMul} widens a pair with
   * shifts and a mask. An infinite or NaN value is refused: the kernel's widening would make it
   * finite.
   */
  public static WeightMatrix ofF16Pairs(String name, int rows, int cols, int[] pairs) {
    checkPairs(name, rows, cols, pairs.length);
    int pc = (cols + 1) / 2;
    for (int i = 0; i < pairs.length; i++) {
      for (int half = 0; half < 2; half++) {
        if (((pairs[i] >>> (16 * half)) & 0x7C00) == 0x7C00) {
          throw new IllegalArgumentException(
              name
                  + ": the F16 value at ["
                  + i / pc
                  + ", "
                  + (2 * (i % pc) + half)
                  + "] is infinite or NaN");
        }
      }
    }
    return new WeightMatrix(
        name,
        DType.F16,
        rows,
        cols,
        null,
        null,
        Tiles.interleave(pairs, rows, pc),
        null,
        null,
        0,
        0);
  }

  /**
   * BF16 values two columns to an int, the even column in the low half: a row-major BF16 tensor's
   * little-endian bytes read as ints, each row padded with a zero column when {@code cols} is odd.
   * They are held in tiles of {@link Tiles#TILE} rows, the ints of one column pair of the tile's
   * rows side by side (so a vector load brings one pair of a vector's worth of outputs, see {@link
   * Bf16MatMul}); the last {@code rows % TILE} rows stay as given, after the tiles. The kernel
   * widens a pair with a shift and a mask.
   */
  public static WeightMatrix ofBf16Pairs(String name, int rows, int cols, int[] pairs) {
    checkPairs(name, rows, cols, pairs.length);
    return new WeightMatrix(
        name,
        DType.BF16,
        rows,
        cols,
        null,
        Tiles.interleave(pairs, rows, (cols + 1) / 2),
        null,
        null,
        null,
        0,
        0);
  }

  /**
   * F8_E4M3 values with one scale per {@code blockRows x blockCols} block ({@code
   * weight_scale_inv}, row-major over blocks). Kept four columns to an int (see {@link
   * #ofFp8Quads}).
   */
  public static WeightMatrix ofFp8(
      String name,
      int rows,
      int cols,
      byte[] values,
      float[] scales,
      int blockRows,
      int blockCols) {
    check(name, rows, cols, values.length);
    int qc = (cols + 3) / 4;
    int[] quads = new int[rows * qc];
    for (int r = 0; r < rows; r++) {
      for (int c = 0; c < cols; c++) {
        quads[r * qc + c / 4] |= (values[r * cols + c] & 0xFF) << (8 * (c & 3));
      }
    }
    return ofFp8Quads(name, rows, cols, quads, scales, blockRows, blockCols);
  }

  /**
   * F8_E4M3 values four columns to an int, column 4i + j in byte j: a row-major tensor's
   * little-endian bytes read as ints, each row padded with zero columns to a multiple of four. Held
   * in tiles of rows as BF16 pairs are (see {@link #ofBf16Pairs}); the kernel widens each byte of a
   * vector of ints with shifts and a mask ({@link Fp8MatMul}).
   */
  public static WeightMatrix ofFp8Quads(
      String name, int rows, int cols, int[] quads, float[] scales, int blockRows, int blockCols) {
    if ((long) rows * ((cols + 3) / 4) != quads.length) {
      throw new IllegalArgumentException(
          name + ": " + quads.length + " column quads for a [" + rows + ", " + cols + "] matrix");
    }
    long expected =
        (long) ((rows + blockRows - 1) / blockRows) * ((cols + blockCols - 1) / blockCols);
    if (scales.length != expected) {
      throw new IllegalArgumentException(
          name + ": " + scales.length + " block scales where " + expected + " were expected");
    }
    return new WeightMatrix(
        name,
        DType.F8_E4M3,
        rows,
        cols,
        null,
        null,
        null,
        Tiles.interleave(quads, rows, (cols + 3) / 4),
        scales,
        blockRows,
        blockCols);
  }

  private static void checkPairs(String name, int rows, int cols, int length) {
    if ((long) rows * ((cols + 1) / 2) != length) {
      throw new IllegalArgumentException(
          name + ": " + length + " column pairs for a [" + rows + ", " + cols + "] matrix");
    }
  }

  private static void check(String name, int rows, int cols, int length) {
    if ((long) rows * cols != length) {
      throw new IllegalArgumentException(
          name + ": " + length + " values for a [" + rows + ", " + cols + "] matrix");
    }
  }

  public String name() {
    return name;
  }

  public DType dtype() {
    return dtype;
  }

  public int rows() {
    return rows;
  }

  public int cols() {
    return cols;
  }

  /**
   * Bytes held: the values in their dtype plus any block scales, as the checkpoint stores them (and
   * a BF16 or F16 row's padding column when {@code cols} is odd, an FP8 row's up to three when
   * {@code cols} is not a multiple of four).
   */
  public long bytes() {
    if (pairs != null) {
      return 4L * pairs.length;
    }
    if (halfPairs != null) {
      return 4L * halfPairs.length;
    }
    if (quads != null) {
      return 4L * quads.length + 4L * scales.length;
    }
    return (long) rows * cols * dtype.bytes() + (scales == null ? 0 : 4L * scales.length);
  }

  float[] f32() {
    return f32;
  }

  int[] pairs() {
    return pairs;
  }

  /** F16 column pairs in tiles (see {@link #ofF16Pairs}). */
  int[] halfPairs() {
    return halfPairs;
  }

  /** Rows held in whole tiles (BF16, F16 and FP8); the rest are held row by row after them. */
  int tiledRows() {
    return Tiles.tiledRows(rows);
  }

  /**
   * Index in {@link #pairs}, {@link #halfPairs} or {@link #quads} of row {@code row}'s int {@code
   * i}.
   */
  int heldIndex(int row, int i) {
    int perRow = quads != null ? quadCols : pairCols;
    return row < tiledRows() ? Tiles.index(row, perRow, i) : row * perRow + i;
  }

  int[] quads() {
    return quads;
  }

  /** Ints per row of {@link #quads}. */
  int quadCols() {
    return quadCols;
  }

  /**
   * Row {@code row}'s block scales times {@code factor}, one per block of columns, into {@code dst}
   * from {@code at}, every {@code stride}.
   */
  void blockScales(int row, float factor, float[] dst, int at, int stride) {
    int from = (row / blockRows) * scaleCols;
    for (int k = 0; k < scaleCols; k++) {
      dst[at + k * stride] = factor * scales[from + k];
    }
  }

  /** The block scale of element {@code (row, col)}. */
  float scale(int row, int col) {
    return scales[(row / blockRows) * scaleCols + col / blockCols];
  }

  int blockCols() {
    return blockCols;
  }

  int blockRows() {
    return blockRows;
  }

  /**
   * Whether {@link #slice} can hold rows {@code [from, from + count)} apart: any rows, but an
   * F8_E4M3 matrix's must start a block row or lie within one, so that they have block scales of
   * their own.
   */
  public boolean canSlice(int from, int count) {
    if (from < 0 || count < 1 || from + count > rows) {
      return false;
    }
    int offset = dtype == DType.F8_E4M3 ? from % blockRows : 0;
    return offset == 0 || offset + count <= blockRows;
  }

  /**
   * Rows {@code [from, from + count)} as a matrix of their own in this dtype, {@code [count,
   * cols]}, or {@code [cols, count]} when {@code transposed}: the same stored values (and block
   * scales, the blocks of rows within one block row that many rows high), so the same widened
   * values.
   */
  public WeightMatrix slice(String name, int from, int count, boolean transposed) {
    if (!canSlice(from, count)) {
      throw new IllegalArgumentException(
          this.name
              + ": rows ["
              + from
              + ", "
              + (from + count)
              + ") of a "
              + dtype
              + " ["
              + rows
              + ", "
              + cols
              + "] matrix"
              + (dtype == DType.F8_E4M3
                  ? " in blocks of " + blockRows + " rows have no block scales of their own"
                  : " are not all in it"));
    }
    int outRows = transposed ? cols : count;
    int outCols = transposed ? count : cols;
    switch (dtype) {
      case F32 -> {
        float[] v = new float[count * cols];
        for (int r = 0; r < count; r++) {
          for (int c = 0; c < cols; c++) {
            v[transposed ? c * count + r : r * cols + c] = f32[(from + r) * cols + c];
          }
        }
        return ofF32(name, outRows, outCols, v);
      }
      case BF16, F16 -> {
        int[] held = dtype == DType.BF16 ? pairs : halfPairs;
        short[] bits = new short[count * cols];
        for (int r = 0; r < count; r++) {
          for (int c = 0; c < cols; c++) {
            short b = (short) (held[heldIndex(from + r, c / 2)] >>> (16 * (c & 1)));
            bits[transposed ? c * count + r : r * cols + c] = b;
          }
        }
        return ofHalf(name, dtype, outRows, outCols, bits);
      }
      case F8_E4M3 -> {
        int sliceBlockRows = from % blockRows == 0 ? blockRows : count;
        int sliceScaleRows = (count + sliceBlockRows - 1) / sliceBlockRows;
        byte[] bytes = new byte[count * cols];
        for (int r = 0; r < count; r++) {
          for (int c = 0; c < cols; c++) {
            byte b = (byte) (quads[heldIndex(from + r, c / 4)] >>> (8 * (c & 3)));
            bytes[transposed ? c * count + r : r * cols + c] = b;
          }
        }
        float[] sliceScales = new float[sliceScaleRows * scaleCols];
        for (int k = 0; k < sliceScaleRows; k++) {
          for (int j = 0; j < scaleCols; j++) {
            float v = scales[(from / blockRows + k) * scaleCols + j];
            sliceScales[transposed ? j * sliceScaleRows + k : k * scaleCols + j] = v;
          }
        }
        return transposed
            ? ofFp8(name, outRows, outCols, bytes, sliceScales, blockCols, sliceBlockRows)
            : ofFp8(name, outRows, outCols, bytes, sliceScales, sliceBlockRows, blockCols);
      }
      default -> throw new IllegalStateException(dtype.toString());
    }
  }

  /** Element {@code (row, col)} widened to float32, exactly as the kernels widen it. */
  public float get(int row, int col) {
    int i = row * cols + col;
    return switch (dtype) {
      case F32 -> f32[i];
      case BF16 ->
          Float.intBitsToFloat((pairs[heldIndex(row, col / 2)] << (16 * (~col & 1))) & 0xFFFF0000);
      case F16 ->
          Float.float16ToFloat((short) (halfPairs[heldIndex(row, col / 2)] >>> (16 * (col & 1))));
      case F8_E4M3 ->
          Fp8E4m3.toFloat((byte) (quads[heldIndex(row, col / 4)] >>> (8 * (col & 3))))
              * scale(row, col);
      default -> throw new IllegalStateException(dtype.toString());
    };
  }

  /** Copies row {@code row} widened into {@code dst} at {@code offset} (an embedding lookup). */
  public void copyRow(int row, float[] dst, int offset) {
    if (dtype == DType.F32) {
      System.arraycopy(f32, row * cols, dst, offset, cols);
      return;
    }
    if (dtype == DType.BF16) {
      for (int c = 0; c + 1 < cols; c += 2) {
        int v = pairs[heldIndex(row, c / 2)];
        dst[offset + c] = Float.intBitsToFloat(v << 16);
        dst[offset + c + 1] = Float.intBitsToFloat(v & 0xFFFF0000);
      }
      if (cols % 2 == 1) {
        dst[offset + cols - 1] = get(row, cols - 1);
      }
      return;
    }
    for (int c = 0; c < cols; c++) {
      dst[offset + c] = get(row, c);
    }
  }

  /**
   * The whole matrix widened to float32, as a new NDArray of {@code manager} (for torch's GEMM,
   * which cannot read these dtypes against float32 activations; DJL cannot even create BF16).
   */
  public NDArray widened(NDManager manager) {
    Shape shape = new Shape(rows, cols);
    if (dtype == DType.F32) {
      return manager.create(f32, shape);
    }
    float[] all = new float[rows * cols];
    for (int r = 0; r < rows; r++) {
      copyRow(r, all, r * cols);
    }
    return manager.create(all, shape);
  }

  /** {@code x · Wᵀ} for {@code x} of shape {@code [n, cols]}: a new {@code [n, rows]} NDArray. */
  public NDArray apply(NDArray x) {
    return MatMul.apply(this, x);
  }

  /**
   * Whether {@link #multiply} takes {@code n} rows on a float kernel (else libtorch was chosen, and
   * {@link #apply} avoids the copies into and out of an NDArray that {@link #multiply} then makes).
   */
  public boolean multipliesFloats(int n) {
    return !MatMul.needsTorch(this, n);
  }

  /** {@code y[n, rows] = x[n, cols] · Wᵀ} into {@code y}, with the kernel chosen for n rows. */
  public void multiply(float[] x, int n, float[] y) {
    MatMul.multiply(this, x, n, y);
  }

  /**
   * {@link #multiply} by this matrix into {@code y} and by {@code other} into {@code otherY}, the
   * same {@code x} for both, in one share-out among the kernel threads where it can.
   */
  public void multiplyWith(WeightMatrix other, float[] x, int n, float[] y, float[] otherY) {
    MatMul.multiplyPair(this, other, x, n, y, otherY);
  }
}
