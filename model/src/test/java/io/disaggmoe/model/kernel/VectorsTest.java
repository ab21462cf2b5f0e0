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

  @ParameterizedTest(name = "width {0}")
  @ValueSource(ints = {7, 16, 40, 71})
  void weightedSumsAreTheirScaledAddsInOrder(int n) {
    int count = 5;
    float[] p = RandomFloats.of(4 * count, 3);
    float[] x = RandomFloats.of(count * (n + 2), 4);
    float[] expected = RandomFloats.of(4 * n, 5);
    float[] actual = expected.clone();
    for (int k = 0; k < 4; k++) {
      for (int t = 0; t < count; t++) {
        Vectors.axpy(p[k * count + t], x, t * (n + 2), expected, k * n, n);
      }
    }
    Vectors.weightedSum4(p, 0, count, x, 0, n + 2, count, actual, 0, n, n);
    for (int i = 0; i < expected.length; i++) {
      assertThat(Float.floatToRawIntBits(actual[i]))
          .as("sum %d element %d: %s, axpy in order gave %s", i / n, i % n, actual[i], expected[i])
          .isEqualTo(Float.floatToRawIntBits(expected[i]));
    }
  }
}
