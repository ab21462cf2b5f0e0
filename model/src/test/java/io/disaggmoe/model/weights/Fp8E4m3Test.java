package io.disaggmoe.model.weights;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class Fp8E4m3Test {
  @Test
  void decodesNormalsSubnormalsAndNan() {
    assertThat(Fp8E4m3.toFloat((byte) 0x38)).isEqualTo(1.0f);
    assertThat(Fp8E4m3.toFloat((byte) 0x7E)).isEqualTo(448f);
    assertThat(Fp8E4m3.toFloat((byte) 0xFE)).isEqualTo(-448f);
    assertThat(Fp8E4m3.toFloat((byte) 0x01)).isEqualTo(0x1p-9f);
    assertThat(Fp8E4m3.toFloat((byte) 0x07)).isEqualTo(7 * 0x1p-9f);
    assertThat(Fp8E4m3.toFloat((byte) 0x08)).isEqualTo(0x1p-6f);
    assertThat(Fp8E4m3.toFloat((byte) 0x7F)).isNaN();
    assertThat(Fp8E4m3.toFloat((byte) 0xFF)).isNaN();
  }

  @Test
  void encodingRoundTripsEveryFiniteValue() {
    for (int b = 0; b < 256; b++) {
      float v = Fp8E4m3.toFloat((byte) b);
      if (!Float.isNaN(v) && v != 0f) {
        assertThat(Fp8E4m3.fromFloat(v) & 0xFF).as("byte %02x", b).isEqualTo(b);
      }
    }
    assertThat(Fp8E4m3.fromFloat(1000f)).isEqualTo((byte) 0x7E);
  }
}
