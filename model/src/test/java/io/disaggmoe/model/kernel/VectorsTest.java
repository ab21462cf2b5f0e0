package io.disaggmoe.model.kernel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class VectorsTest {
  @ParameterizedTest(name = "length {0}")
  @ValueSource(ints = {1, 2, 15, 16, 33, 288})
  void laneDotsAreTwoChainsOfMultiplyAddsForEveryRowCount(int dim) {
    int lanes = Vectors.HEAD_LANES;
    int count = 13;
    float[] q = RandomFloats.of(3 + dim * lanes, 1);
    float[] rows = RandomFloats.of(5 + count * dim, 2);
    float[] all = new float[2 + count * lanes];
    Vectors.laneDots(q, 3, rows, 5, dim, count, all, 2);
    for (int j = 0; j < count; j++) {
      float[] alone = new float[lanes];
      Vectors.laneDots(q, 3, rows, 5 + j * dim, dim, 1, alone, 0);
      for (int h = 0; h < lanes; h++) {
        float even = 0;
        float odd = 0;
        double exact = 0;
        for (int k = 0; k < dim; k++) {
          float qk = q[3 + k * lanes + h];
          float r = rows[5 + j * dim + k];
          if (k % 2 == 0) {
            even = Math.fma(qk, r, even);
          } else {
            odd = Math.fma(qk, r, odd);
          }
          exact += (double) qk * r;
        }
        float got = all[2 + j * lanes + h];
        assertThat(Float.floatToRawIntBits(got))
            .as("row %d of %d, lane %d: %s, two chains gave %s", j, count, h, got, even + odd)
            .isEqualTo(Float.floatToRawIntBits(even + odd));
        assertThat(Float.floatToRawIntBits(alone[h]))
            .as("row %d lane %d alone (%s) against among %d rows (%s)", j, h, alone[h], count, got)
            .isEqualTo(Float.floatToRawIntBits(got));
        assertThat((double) got).as("row %d lane %d", j, h).isCloseTo(exact, within(1e-4));
      }
    }
  }

  @Test
  void laneMaximaScalesTotalsAndMultiplyAddsAreThePlainLoops() {
    int lanes = Vectors.HEAD_LANES;
    int count = 7;
    float[] v = RandomFloats.of(1 + count * lanes, 3);
    float[] scaled = v.clone();
    float[] top = new float[lanes];
    java.util.Arrays.fill(top, -0.5f);
    Vectors.laneScaleMax(scaled, 1, count, 0.3f, top);
    double[] total = new double[lanes];
    java.util.Arrays.fill(total, 2.0);
    Vectors.laneTotals(scaled, 1, count, total);
    float[] factor = RandomFloats.of(lanes, 4);
    float[] rescaled = scaled.clone();
    Vectors.laneScale(rescaled, 1, count, factor);
    float[] added = RandomFloats.of(2 + count * lanes, 5);
    float[] before = added.clone();
    Vectors.laneFma(factor, scaled, 1, added, 2, count);
    for (int h = 0; h < lanes; h++) {
      float max = -0.5f;
      double sum = 2.0;
      for (int j = 0; j < count; j++) {
        int i = 1 + j * lanes + h;
        float x = v[i] * 0.3f;
        assertThat(scaled[i]).as("row %d lane %d scaled", j, h).isEqualTo(x);
        assertThat(rescaled[i]).as("row %d lane %d rescaled", j, h).isEqualTo(x * factor[h]);
        int a = 2 + j * lanes + h;
        assertThat(Float.floatToRawIntBits(added[a]))
            .as("row %d lane %d: %s against one fused multiply-add", j, h, added[a])
            .isEqualTo(Float.floatToRawIntBits(Math.fma(factor[h], x, before[a])));
        max = Math.max(max, x);
        sum += x;
      }
      assertThat(top[h]).as("lane %d's maximum", h).isEqualTo(max);
      assertThat(total[h]).as("lane %d's total, in double in row order", h).isEqualTo(sum);
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
    float[] shift = new float[Vectors.HEAD_LANES];
    java.util.Arrays.fill(shift, 0.1f);
    Vectors.expShiftedLanes(got, 0, n / Vectors.HEAD_LANES, shift);
    for (int i = 0; i < n - n % Vectors.HEAD_LANES; i++) {
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

  @ParameterizedTest(name = "length {0}")
  @ValueSource(ints = {1, 7, 8, 129_280})
  void samplingWeightsAreExpOfTheScaledLogitsCutAtTheFloorSummedInLaneOrder(int n) {
    float[] x = RandomFloats.of(n, 7);
    for (int i = 0; i < n; i++) {
      x[i] *= 40; // logits from -40 to 40: scaled by 3, some pass float's smallest normal
    }
    if (n > 1) {
      x[n / 2] = Float.NEGATIVE_INFINITY; // a token ruled out
    }
    float max = Float.NEGATIVE_INFINITY;
    for (float v : x) {
      max = Math.max(max, v);
    }
    float scale = 3f;
    float floor = 1e-3f;
    float[] p = new float[n];
    double total = Vectors.expScaled(x, max, scale, floor, p, n);
    double[] lanes = new double[Vectors.HEAD_LANES];
    for (int i = 0; i < n; i++) {
      float one = Vectors.expOfNonPositive((x[i] - max) * scale);
      float expected = one < floor ? 0f : one;
      assertThat(Float.floatToRawIntBits(p[i]))
          .as("token %d of %d: logit %s gave %s, alone %s", i, n, x[i], p[i], expected)
          .isEqualTo(Float.floatToRawIntBits(expected));
      double exact = Math.exp(((double) x[i] - max) * scale);
      if (exact >= 2 * floor) {
        // Within the rounding of (x - max) * scale in float: up to 1.2e-5 of the exponent.
        assertThat((double) p[i]).as("token %d", i).isCloseTo(exact, within(3e-5 * exact));
      }
      lanes[i % Vectors.HEAD_LANES] += p[i];
    }
    double sum = 0;
    for (double l : lanes) {
      sum += l;
    }
    assertThat(total).as("the lanes' totals, in order").isEqualTo(sum);
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
  void laneWeightedSumsAreMultiplyAddsInRowOrderAndRunsAddUpReadingAheadOrNot(int cols) {
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
    // Reading other rows ahead meanwhile (the next block's) changes nothing.
    float[] ahead = RandomFloats.of(3 + 64 * 16, 6);
    Vectors.laneWeightedSums(p, 2, rows, 1, dim, count, cols, once, 5, ahead, 3, 64 * 16);
    // The same rows in two runs, as a block split across pages comes.
    float[] split = start.clone();
    Vectors.laneWeightedSums(p, 2, rows, 1, dim, 4, cols, split, 5, ahead, 0, 0);
    Vectors.laneWeightedSums(
        p, 2 + 4 * lanes, rows, 1 + 4 * dim, dim, count - 4, cols, split, 5, ahead, 0, 0);
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

  @ParameterizedTest(name = "length {0}")
  @ValueSource(ints = {0, 1, 7, 8, 9, 31, 33, 129_280})
  void maxAndIndexOfAreThePlainLoopsWhereverTheGreatestSits(int n) {
    float[] x = RandomFloats.of(n, 4);
    for (int at = 0; at < n; at += Math.max(1, n / 37)) {
      float[] y = x.clone();
      y[at] = 100f;
      if (at + 1 < n) {
        y[n - 1] = 100f;
      }
      assertThat(Vectors.max(y, n)).as("max, the greatest at %d of %d", at, n).isEqualTo(100f);
      assertThat(Vectors.indexOf(y, n, 100f)).as("first greatest of %d", n).isEqualTo(at);
      y[at] = Float.NaN;
      assertThat(Vectors.max(y, n)).as("max with NaN at %d of %d", at, n).isNaN();
    }
    float plain = Float.NEGATIVE_INFINITY;
    for (int i = 0; i < n; i++) {
      plain = Math.max(plain, x[i]);
    }
    assertThat(Vectors.max(x, n)).isEqualTo(plain);
    assertThat(Vectors.indexOf(x, n, 1000f)).as("a value nowhere").isEqualTo(-1);
    assertThat(Vectors.indexOf(x, n, Float.NaN)).as("NaN equals nothing").isEqualTo(-1);
    if (n > 0) {
      float[] zeros = new float[n];
      java.util.Arrays.fill(zeros, -0f);
      zeros[n - 1] = 0f;
      assertThat(Vectors.indexOf(zeros, n, Vectors.max(zeros, n))).as("-0 equals 0").isZero();
      java.util.Arrays.fill(zeros, Float.NEGATIVE_INFINITY);
      assertThat(Vectors.max(zeros, n)).isEqualTo(Float.NEGATIVE_INFINITY);
    }
  }
}
