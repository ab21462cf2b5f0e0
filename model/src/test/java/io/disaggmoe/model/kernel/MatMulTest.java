package io.disaggmoe.model.kernel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.disaggmoe.model.weights.DType;
import io.disaggmoe.model.weights.Fp8E4m3;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class MatMulTest {
  @AfterEach
  void reset() {
    MatMul.override(null);
  }

  @Test
  void vectorApiIsLoadedInTests() {
    assertThat(MatMul.vectorAvailable())
        .as("tests run with --add-modules jdk.incubator.vector, so the fast kernel is tested")
        .isTrue();
  }

  @ParameterizedTest(name = "{0} [{1}x{2}] x {3} rows")
  @CsvSource({
    "F32, 40, 64, 1",
    "F32, 37, 100, 7",
    "BF16, 64, 1024, 1",
    "BF16, 33, 48, 5",
    "BF16, 17, 130, 9",
    // Four parts of the outputs are read side by side; 30, 31 and 13 outputs leave some past the
    // last whole part.
    "BF16, 30, 130, 2",
    "BF16, 31, 101, 3",
    "BF16, 13, 1024, 4",
    "F16, 20, 72, 3",
    "F16, 33, 101, 1",
    "F16, 40, 130, 5",
    "F8_E4M3, 48, 64, 6",
    "F8_E4M3, 40, 256, 4",
    // Columns past the last whole vector of ints (4L columns).
    "F8_E4M3, 40, 384, 1",
    "F8_E4M3, 33, 256, 7",
    "F8_E4M3, 9, 300, 5",
    // Large enough to be shared among the kernel threads.
    "BF16, 514, 1024, 7",
    "F16, 514, 1024, 1",
    "F16, 514, 1024, 6",
    "F32, 300, 512, 3"
  })
  void fastKernelsMatchTheScalarReference(DType dtype, int rows, int cols, int n) {
    WeightMatrix w = random(dtype, rows, cols, 7);
    float[] x = RandomFloats.of(n * cols, 11);
    float[] expected = new float[n * rows];
    MatMul.override(Kernel.SCALAR);
    w.multiply(x, n, expected);
    float[] actual = new float[n * rows];
    MatMul.override(Kernel.VECTOR);
    w.multiply(x, n, actual);
    for (int i = 0; i < expected.length; i++) {
      assertThat(actual[i])
          .as("%s row %d output %d", dtype, i / rows, i % rows)
          .isCloseTo(expected[i], within(1e-4f * (1 + Math.abs(expected[i]))));
    }
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource({"F32", "BF16", "F16", "F8_E4M3"})
  void aRowsResultDoesNotDependOnItsBatch(DType dtype) {
    int rows = 24;
    int cols = 96 + 5;
    if (dtype == DType.F8_E4M3) {
      cols = 256 + 44;
    }
    WeightMatrix w = random(dtype, rows, cols, 3);
    // The configured choice (AUTO): a prompt's many rows are taken a block at a time.
    for (int n : new int[] {2, 3, 4, 6, 13, 2 * MatMul.ROW_BLOCK + 3}) {
      assertThat(MatMul.choose(w, n)).as("the kernel for %d rows", n).isEqualTo(Kernel.VECTOR);
      float[] batch = RandomFloats.of(n * cols, 5);
      float[] all;
      try (NDManager m = NDManager.newBaseManager()) {
        all = w.apply(m.create(batch, new Shape(n, cols))).toFloatArray();
      }
      for (int b = 0; b < n; b++) {
        float[] alone = new float[rows];
        float[] x = new float[cols];
        System.arraycopy(batch, b * cols, x, 0, cols);
        w.multiply(x, 1, alone);
        for (int o = 0; o < rows; o++) {
          assertThat(Float.floatToRawIntBits(alone[o]))
              .as(
                  "row %d of %d, output %d: alone %s, in the batch %s",
                  b, n, o, alone[o], all[b * rows + o])
              .isEqualTo(Float.floatToRawIntBits(all[b * rows + o]));
        }
      }
    }
  }

  @Test
  void aSharedMultiplicationGivesEachRowItsResultAlone() {
    WeightMatrix w = random(DType.BF16, 1030, 512, 21);
    assertThat(w.bytes()).isGreaterThanOrEqualTo(KernelThreads.MIN_PARALLEL_BYTES);
    MatMul.override(Kernel.VECTOR);
    int n = 6;
    float[] batch = RandomFloats.of(n * 512, 23);
    float[] all = new float[n * 1030];
    w.multiply(batch, n, all);
    for (int b = 0; b < n; b++) {
      float[] alone = new float[1030];
      w.multiply(java.util.Arrays.copyOfRange(batch, b * 512, (b + 1) * 512), 1, alone);
      for (int o = 0; o < 1030; o++) {
        assertThat(Float.floatToRawIntBits(all[b * 1030 + o]))
            .as("row %d output %d: alone %s, in the batch %s", b, o, alone[o], all[b * 1030 + o])
            .isEqualTo(Float.floatToRawIntBits(alone[o]));
      }
    }
  }

  @ParameterizedTest(name = "{0} and {1}, {2} rows")
  @CsvSource({
    "BF16, BF16, 1",
    "BF16, BF16, 3",
    "BF16, BF16, 8",
    "F32, F32, 2",
    "F8_E4M3, F8_E4M3, 1",
    "BF16, F32, 1",
    "BF16, F16, 2"
  })
  void aPairSharedOutInOneCallGivesWhatEachGivesAlone(DType first, DType second, int n) {
    // 390 rows end inside a tile, so the second matrix's outputs start past a partial one; large
    // enough together to be shared among the kernel threads.
    WeightMatrix a = random(first, 390, 512, 31);
    WeightMatrix b = random(second, 300, 512, 32);
    assertThat(a.bytes() + b.bytes()).isGreaterThanOrEqualTo(KernelThreads.MIN_PARALLEL_BYTES);
    MatMul.override(Kernel.VECTOR);
    float[] x = RandomFloats.of(n * 512, 33);
    float[] ya = new float[n * 390];
    float[] yb = new float[n * 300];
    a.multiplyWith(b, x, n, ya, yb);
    float[] aloneA = new float[n * 390];
    float[] aloneB = new float[n * 300];
    a.multiply(x, n, aloneA);
    b.multiply(x, n, aloneB);
    for (int i = 0; i < ya.length; i++) {
      assertThat(Float.floatToRawIntBits(ya[i]))
          .as("first matrix, output %d: alone %s, paired %s", i, aloneA[i], ya[i])
          .isEqualTo(Float.floatToRawIntBits(aloneA[i]));
    }
    for (int i = 0; i < yb.length; i++) {
      assertThat(Float.floatToRawIntBits(yb[i]))
          .as("second matrix, output %d: alone %s, paired %s", i, aloneB[i], yb[i])
          .isEqualTo(Float.floatToRawIntBits(aloneB[i]));
    }
  }

  @ParameterizedTest(name = "[{0}x{1}] x {2} rows")
  @CsvSource({
    "64, 1024, 1",
    "48, 7, 1",
    "80, 130, 1",
    "33, 48, 5",
    "17, 130, 9",
    "31, 101, 3",
    "16, 2, 2",
    "80, 130, 2",
    "64, 1023, 2",
    "48, 7, 8",
    "40, 130, 6",
    "24, 131, 10",
    "33, 101, 13"
  })
  void bf16TilesSumEachOutputAsTheScalarFormDoes(int rows, int cols, int n) {
    // Whole tiles and rows past them, odd pairs and odd widths, one to four rows a tile, one row
    // two tiles at a time (an odd count of them too); one or two rows past the fours over two
    // tiles, the last of an odd count of tiles alone.
    assertEveryOutputIsItsScalarForm(random(DType.BF16, rows, cols, 11), n, Bf16MatMul::scalar);
  }

  @ParameterizedTest(name = "[{0}x{1}] x {2} rows")
  @CsvSource({
    "64, 1024, 1",
    "48, 7, 1",
    "80, 130, 1",
    "33, 48, 5",
    "17, 130, 9",
    "31, 101, 3",
    "16, 2, 2",
    "48, 7, 8",
    "24, 131, 4",
    "33, 101, 13"
  })
  void f16TilesSumEachOutputAsTheScalarFormDoes(int rows, int cols, int n) {
    // Whole tiles and rows past them, odd widths, one row two tiles at a time (an odd count of
    // them too), fours and the rows past them.
    assertEveryOutputIsItsScalarForm(random(DType.F16, rows, cols, 11), n, F16MatMul::scalar);
  }

  @org.junit.jupiter.api.Test
  void f16WidensEveryFiniteValueAsFloat16ToFloatDoes() {
    for (int bits = 0; bits < 1 << 16; bits++) {
      if ((bits & 0x7C00) == 0x7C00) {
        continue;
      }
      float want = Float.float16ToFloat((short) bits);
      assertThat(F16MatMul.evenOf(bits) * 0x1p112f)
          .as("F16 %04x as an even column", bits)
          .isEqualTo(want);
      assertThat(F16MatMul.oddOf(bits << 16 | 0x3C00) * 0x1p112f)
          .as("F16 %04x as an odd column", bits)
          .isEqualTo(want);
    }
    // Every finite value, subnormals and negative zero among them, through the tiles.
    short[] all = new short[64 * 1024];
    for (int i = 0; i < all.length; i++) {
      int bits = i * 3 & 0xFFFF;
      all[i] = (short) ((bits & 0x7C00) == 0x7C00 ? bits & 0x83FF : bits);
    }
    WeightMatrix w = WeightMatrix.ofHalf("w.F16", DType.F16, 64, 1024, all);
    for (int i = 0; i < all.length; i += 97) {
      assertThat(w.get(i / 1024, i % 1024))
          .as("element %d", i)
          .isEqualTo(Float.float16ToFloat(all[i]));
    }
    assertEveryOutputIsItsScalarForm(w, 3, F16MatMul::scalar);
  }

  @org.junit.jupiter.api.Test
  void f16RefusesInfiniteAndNanWeightsNamingWhere() {
    short[] bits = new short[4 * 6];
    bits[2 * 6 + 5] = (short) 0xFC00;
    org.assertj.core.api.Assertions.assertThatThrownBy(
            () -> WeightMatrix.ofHalf("w.inf", DType.F16, 4, 6, bits))
        .hasMessageContaining("w.inf")
        .hasMessageContaining("[2, 5]")
        .hasMessageContaining("infinite or NaN");
    bits[2 * 6 + 5] = 0;
    bits[7] = (short) 0x7E01;
    org.assertj.core.api.Assertions.assertThatThrownBy(
            () -> WeightMatrix.ofHalf("w.nan", DType.F16, 4, 6, bits))
        .hasMessageContaining("[1, 1]");
  }

  @ParameterizedTest(name = "[{0}x{1}] x {2} rows, blocks of {3} rows")
  @CsvSource({
    "64, 1024, 1, 128",
    "33, 256, 5, 16",
    "17, 300, 9, 16",
    "31, 301, 3, 5",
    "16, 130, 2, 7",
    "48, 131, 8, 128",
    "48, 131, 1, 16",
    "40, 130, 1, 5"
  })
  void fp8TilesSumEachOutputAsTheScalarFormDoes(int rows, int cols, int n, int blockRows) {
    // Block rows that cut a tile, partial blocks of columns, one to three columns past the last
    // int; one row across two tiles, with an odd count of tiles and the near and far tiles in
    // different block rows.
    assertEveryOutputIsItsScalarForm(fp8(rows, cols, 17, blockRows), n, Fp8MatMul::scalar);
  }

  @ParameterizedTest(name = "{0} rows")
  @CsvSource({"1", "2", "5"})
  void fp8TilesSumEveryByteValueAsTheScalarFormDoes(int n) {
    // Every E4M3 byte, subnormals and negative zero among them, in blocks of 16 rows that cut the
    // tiles.
    int rows = 24;
    int cols = 256;
    byte[] q = new byte[rows * cols];
    for (int i = 0; i < q.length; i++) {
      q[i] = (byte) (i * 7);
    }
    float[] scales = RandomFloats.of(4, 29);
    assertEveryOutputIsItsScalarForm(
        WeightMatrix.ofFp8("w.F8_E4M3", rows, cols, q, scales, 16, 128), n, Fp8MatMul::scalar);
  }

  /** Output {@code o} of the row of {@code x} at {@code x0}, as a kernel's scalar form gives it. */
  private interface ScalarForm {
    float output(WeightMatrix w, float[] x, int x0, int o);
  }

  private static void assertEveryOutputIsItsScalarForm(WeightMatrix w, int n, ScalarForm form) {
    int rows = w.rows();
    int cols = w.cols();
    float[] x = RandomFloats.of(n * cols, 13);
    float[] y = new float[n * rows];
    MatMul.override(Kernel.VECTOR);
    w.multiply(x, n, y);
    for (int b = 0; b < n; b++) {
      for (int o = 0; o < rows; o++) {
        float expected = form.output(w, x, b * cols, o);
        assertThat(Float.floatToRawIntBits(y[b * rows + o]))
            .as("row %d output %d: tiles %s, scalar %s", b, o, y[b * rows + o], expected)
            .isEqualTo(Float.floatToRawIntBits(expected));
      }
    }
  }

  @Test
  void bf16PairsHoldEveryColumnOfAnOddWidth() {
    WeightMatrix w = random(DType.BF16, 3, 7, 5);
    assertThat(w.bytes()).as("3 rows of 4 column pairs").isEqualTo(3 * 4 * 4);
    float[] row = new float[7];
    w.copyRow(2, row, 0);
    for (int c = 0; c < 7; c++) {
      assertThat(row[c]).as("column %d", c).isEqualTo(w.get(2, c));
    }
  }

  @Test
  void fp8WidensEveryFiniteByteAsTheDecoderDoes() {
    byte[] values = new byte[256];
    for (int i = 0; i < 256; i++) {
      boolean nan = (i & 0x7F) == 0x7F;
      values[i] = (byte) (nan ? 0 : i);
    }
    // A whole tile of rows, each of every byte, so the tile kernel widens them.
    int rows = Tiles.TILE;
    byte[] all = new byte[rows * 256];
    for (int r = 0; r < rows; r++) {
      System.arraycopy(values, 0, all, r * 256, 256);
    }
    float[] scales = {0.5f, 2f};
    WeightMatrix w = WeightMatrix.ofFp8("all-bytes", rows, 256, all, scales, rows, 128);
    for (int c = 0; c < 256; c++) {
      float[] x = new float[256];
      x[c] = 1;
      float[] y = new float[rows];
      MatMul.override(Kernel.VECTOR);
      w.multiply(x, 1, y);
      float expected = Fp8E4m3.toFloat(values[c]) * scales[c / 128];
      for (int r = 0; r < rows; r++) {
        assertThat(y[r]).as("byte 0x%02x, output %d", values[c] & 0xFF, r).isEqualTo(expected);
      }
    }
  }

  @Test
  void torchKernelAgreesWithTheScalarReference() {
    WeightMatrix w = random(DType.BF16, 48, 80, 9);
    int n = MatMul.ROW_BLOCK + 3;
    float[] x = RandomFloats.of(n * 80, 13);
    float[] expected = new float[n * 48];
    MatMul.override(Kernel.SCALAR);
    w.multiply(x, n, expected);
    MatMul.override(Kernel.TORCH);
    try (NDManager m = NDManager.newBaseManager()) {
      NDArray y = w.apply(m.create(x, new Shape(n, 80)));
      assertThat(y.getShape()).isEqualTo(new Shape(n, 48));
      float[] actual = y.toFloatArray();
      for (int i = 0; i < expected.length; i++) {
        assertThat(actual[i]).as("output %d", i).isCloseTo(expected[i], within(1e-4f));
      }
    }
  }

  @Test
  void aWrongInputWidthNamesTheWeight() {
    WeightMatrix w = random(DType.F32, 4, 8, 1);
    org.assertj.core.api.Assertions.assertThatThrownBy(
            () -> w.multiply(new float[9], 1, new float[4]))
        .hasMessageContaining("w.F32")
        .hasMessageContaining("takes rows of 8 values, got 9");
  }

  private static WeightMatrix random(DType dtype, int rows, int cols, long seed) {
    float[] v = RandomFloats.of(rows * cols, seed);
    String name = "w." + dtype;
    return switch (dtype) {
      case F32 -> WeightMatrix.ofF32(name, rows, cols, v);
      case BF16 -> {
        short[] bits = new short[v.length];
        for (int i = 0; i < v.length; i++) {
          bits[i] = (short) (Float.floatToRawIntBits(v[i]) >>> 16);
        }
        yield WeightMatrix.ofHalf(name, dtype, rows, cols, bits);
      }
      case F16 -> {
        short[] bits = new short[v.length];
        for (int i = 0; i < v.length; i++) {
          bits[i] = Float.floatToFloat16(v[i]);
        }
        yield WeightMatrix.ofHalf(name, dtype, rows, cols, bits);
      }
      case F8_E4M3 -> fp8(rows, cols, seed, 16);
      default -> throw new IllegalArgumentException(dtype.toString());
    };
  }

  @Test
  void aSliceKeepsItsRowsValuesInItsDtypeTransposedOrNot() {
    // FP8 in blocks of 16 rows: a whole block row, a block row and a part of the next, a part
    // within one.
    int[][] slices = {{0, 16}, {16, 20}, {20, 8}};
    for (DType dtype : new DType[] {DType.F8_E4M3, DType.F16, DType.BF16, DType.F32}) {
      WeightMatrix w = random(dtype, 40, 256, 21);
      for (int[] s : slices) {
        for (boolean transposed : new boolean[] {false, true}) {
          WeightMatrix part = w.slice("part", s[0], s[1], transposed);
          assertThat(part.dtype()).isEqualTo(dtype);
          assertThat(part.rows()).isEqualTo(transposed ? 256 : s[1]);
          for (int r = 0; r < s[1]; r++) {
            for (int c = 0; c < 256; c++) {
              assertThat(transposed ? part.get(c, r) : part.get(r, c))
                  .as(
                      "%s rows [%d, +%d) transposed %s: (%d, %d)",
                      dtype, s[0], s[1], transposed, r, c)
                  .isEqualTo(w.get(s[0] + r, c));
            }
          }
        }
      }
    }
    WeightMatrix fp8 = random(DType.F8_E4M3, 40, 256, 21);
    assertThat(fp8.canSlice(20, 14)).as("FP8 rows 20-33 cross a block row off its start").isFalse();
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> fp8.slice("part", 20, 14, false))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("rows [20, 34)");
    assertThat(random(DType.BF16, 40, 256, 21).canSlice(20, 14)).as("BF16 has no blocks").isTrue();
    assertThat(fp8.canSlice(30, 11)).as("past the last row").isFalse();
  }

  private static WeightMatrix fp8(int rows, int cols, long seed, int blockRows) {
    float[] v = RandomFloats.of(rows * cols, seed);
    byte[] q = new byte[v.length];
    for (int i = 0; i < v.length; i++) {
      q[i] = Fp8E4m3.fromFloat(v[i] * 100);
    }
    // DeepSeek-V3's blocks are 128 x 128.
    int bc = 128;
    float[] scales =
        RandomFloats.of(((rows + blockRows - 1) / blockRows) * ((cols + bc - 1) / bc), seed + 1);
    return WeightMatrix.ofFp8("w.F8_E4M3", rows, cols, q, scales, blockRows, bc);
  }
}
