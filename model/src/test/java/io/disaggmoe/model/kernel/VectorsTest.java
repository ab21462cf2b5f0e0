package io.disaggmoe.model.kernel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class VectorsTest {
  @ParameterizedTest(name = "length {0}")
  @ValueSource(ints = {1, 15, 16, 33, 288})
  void dotProductsMatchThePlainSumAndEachOther(int n) {
    float[] a = RandomFloats.of(4 * n + 3, 1);
    float[] b = RandomFloats.of(n + 5, 2);
    float[] four = new float[8];
    Vectors.dot4(a, 3, n, b, 5, n, four, 1, 2);
    for (int k = 0; k < 4; k++) {
      double expected = 0;
      for (int i = 0; i < n; i++) {
        expected += (double) a[3 + k * n + i] * b[5 + i];
      }
      float one = Vectors.dot(a, 3 + k * n, b, 5, n);
      assertThat(one).as("dot %d of length %d", k, n).isCloseTo((float) expected, within(1e-4f));
      assertThat(Float.floatToRawIntBits(four[1 + 2 * k]))
          .as("dot4's sum %d (%s) is bit for bit dot's (%s)", k, four[1 + 2 * k], one)
          .isEqualTo(Float.floatToRawIntBits(one));
    }
  }

  @ParameterizedTest(name = "length {0}")
  @ValueSource(ints = {1, 15, 16, 33, 64, 288})
  void fourRowsAtOnceAreBitForBitDotsOfEachRow(int n) {
    int bStride = n + 7;
    float[] a = RandomFloats.of(4 * n + 3, 3);
    float[] b = RandomFloats.of(5 + 4 * bStride, 4);
    int outStride = 6;
    float[] out = new float[2 + 4 * outStride];
    Vectors.dot4x4(a, 3, n, b, 5, bStride, n, out, 2, outStride);
    for (int r = 0; r < 4; r++) {
      for (int k = 0; k < 4; k++) {
        float one = Vectors.dot(a, 3 + k * n, b, 5 + r * bStride, n);
        float got = out[2 + r + k * outStride];
        assertThat(Float.floatToRawIntBits(got))
            .as("dot4x4's sum for row %d, query %d (%s) is bit for bit dot's (%s)", r, k, got, one)
            .isEqualTo(Float.floatToRawIntBits(one));
      }
    }
  }

  @Test
  void readAheadReturnsTheSumWithinRounding() {
    float[] v = RandomFloats.of(1000, 5);
    double expected = 0;
    for (int i = 7; i < 7 + 900; i++) {
      expected += v[i];
    }
    float sum = Vectors.readAhead(v, 7, 900);
    assertThat(sum == 0f || Math.abs(sum - expected) < 1e-3)
        .as("readAhead gave %s for a sum of %s (0 without the vector module)", sum, expected)
        .isTrue();
  }

  @Test
  void softmaxWeightsAreExpWithinTwoUlpsTheSameVectorizedOrNot() {
    int n = 20_003;
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      // From 0 down past float's smallest normal, with the shift inexact in float.
      v[i] = 0.1f - 95f * i / (n - 1);
    }
    float[] got = v.clone();
    Vectors.expShifted(got, 0, n, 0.1f);
    for (int i = 0; i < n; i++) {
      float x = v[i] - 0.1f;
      float one = Vectors.expOfNonPositive(x);
      assertThat(Float.floatToRawIntBits(got[i]))
          .as("e^%s: %s over the array, %s alone", x, got[i], one)
          .isEqualTo(Float.floatToRawIntBits(one));
      double exact = Math.exp(x);
      if (x >= -87f) {
        assertThat((double) one)
            .as("e^%s", x)
            .isCloseTo(exact, within(2.0 * Math.ulp((float) exact)));
      } else {
        assertThat(one).as("e^%s, under the smallest normal float", x).isZero();
      }
    }
  }

  @Test
  void swigluProductsAreSiluTimesUpTheSameVectorizedOrNot() {
    int n = 20_003;
    float[] gate = new float[n];
    for (int i = 0; i < n; i++) {
      // Through 0, and past where e^-g overflows a float (below -88) and underflows (above 87).
      gate[i] = -100f + 200f * i / (n - 1);
    }
    float[] up = RandomFloats.of(n, 6);
    float[] got = gate.clone();
    Vectors.siluTimes(got, up, n);
    for (int i = 0; i < n; i++) {
      float[] alone = {gate[i]};
      Vectors.siluTimes(alone, new float[] {up[i]}, 1);
      assertThat(Float.floatToRawIntBits(got[i]))
          .as("silu(%s) * %s: %s over the array, %s alone", gate[i], up[i], got[i], alone[0])
          .isEqualTo(Float.floatToRawIntBits(alone[0]));
      double g = gate[i];
      double exact = g / (1 + Math.exp(-g)) * up[i];
      assertThat((double) got[i])
          .as("silu(%s) * %s", gate[i], up[i])
          .isCloseTo(exact, within(4.0 * Math.ulp((float) exact) + 1e-30));
    }
  }

  @ParameterizedTest(name = "{0} columns")
  @ValueSource(ints = {1, 5, 12, 17, 256})
  void laneWeightedSumsAreMultiplyAddsInRowOrderAndRunsAddUp(int cols) {
    int lanes = Vectors.HEAD_LANES;
    int count = 9;
    int dim = cols + 3;
    float[] p = RandomFloats.of(count * lanes + 2, 3);
    float[] rows = RandomFloats.of(1 + count * dim, 4);
    float[] start = RandomFloats.of(5 + cols * lanes, 5);
    float[] expected = start.clone();
    for (int c = 0; c < cols; c++) {
      for (int h = 0; h < lanes; h++) {
        float s = expected[5 + c * lanes + h];
        for (int j = 0; j < count; j++) {
          s = Math.fma(p[2 + j * lanes + h], rows[1 + j * dim + c], s);
        }
        expected[5 + c * lanes + h] = s;
      }
    }
    float[] once = start.clone();
    Vectors.laneWeightedSums(p, 2, rows, 1, dim, count, cols, once, 5);
    // The same rows in two runs, as a block split across pages comes.
    float[] split = start.clone();
    Vectors.laneWeightedSums(p, 2, rows, 1, dim, 4, cols, split, 5);
    Vectors.laneWeightedSums(p, 2 + 4 * lanes, rows, 1 + 4 * dim, dim, count - 4, cols, split, 5);
    for (int i = 5; i < expected.length; i++) {
      int c = (i - 5) / lanes;
      int h = (i - 5) % lanes;
      assertThat(Float.floatToRawIntBits(once[i]))
          .as("column %d lane %d: %s, multiply-adds in order gave %s", c, h, once[i], expected[i])
          .isEqualTo(Float.floatToRawIntBits(expected[i]));
      assertThat(Float.floatToRawIntBits(split[i]))
          .as("column %d lane %d over two runs: %s, in one %s", c, h, split[i], once[i])
          .isEqualTo(Float.floatToRawIntBits(once[i]));
    }
  }
}
