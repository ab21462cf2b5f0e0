package io.disaggmoe.model.kernel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class RowCombinationTest {
  @ParameterizedTest(name = "{0} x {1}, bf16 {2}")
  @CsvSource({
    "64, 256, true",
    "256, 64, true",
    "3, 70, true",
    "5, 2, true",
    "64, 256, false",
    "7, 100, false",
    "4, 9, false"
  })
  void eachOutputIsItsFusedSumInOrderOfTheRows(int inner, int outputs, boolean bf16) {
    float[] values = RandomFloats.of(inner * outputs, inner + 7L * outputs);
    if (bf16) {
      for (int i = 0; i < values.length; i++) {
        values[i] = Float.intBitsToFloat(Float.floatToRawIntBits(values[i]) & 0xFFFF0000);
      }
    }
    RowCombination w = RowCombination.of(inner, outputs, values);
    assertThat(w.isBf16()).as("held as BF16").isEqualTo(bf16 && outputs % 2 == 0);
    assertThat(w.bytes()).isEqualTo((w.isBf16() ? 2L : 4L) * inner * outputs);
    float[] x = RandomFloats.of(inner + 3, 11);
    float[] y = new float[outputs + 5];
    w.multiply(x, 3, y, 5);
    for (int o = 0; o < outputs; o++) {
      float fused = 0;
      double exact = 0;
      for (int d = 0; d < inner; d++) {
        fused = Math.fma(x[3 + d], values[d * outputs + o], fused);
        exact += (double) x[3 + d] * values[d * outputs + o];
      }
      assertThat(Float.floatToRawIntBits(y[5 + o]))
          .as("output %d: %s, fused in order %s", o, y[5 + o], fused)
          .isEqualTo(Float.floatToRawIntBits(fused));
      assertThat((double) y[5 + o])
          .as("output %d against double", o)
          .isCloseTo(exact, within(1e-4));
    }
    assertThat(y[4]).as("the value before the outputs is left alone").isZero();
  }

  @Test
  void aWrongNumberOfValuesIsRefused() {
    assertThatThrownBy(() -> RowCombination.of(3, 4, new float[11]))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("3 x 4 matrix has 12 values, got 11");
  }
}
