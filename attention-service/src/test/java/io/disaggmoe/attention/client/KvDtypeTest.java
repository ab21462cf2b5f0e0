package io.disaggmoe.attention.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import org.junit.jupiter.api.Test;

class KvDtypeTest {
  private static float[] roundTrip(KvDtype d, float[] values) {
    float[] back = new float[values.length];
    d.decode(ByteString.copyFrom(d.encode(values)), back, 0);
    return back;
  }

  @Test
  void f32KeepsEveryBit() {
    float[] v = {0f, -0f, 1.1f, -3.4e38f, Float.MIN_VALUE, Float.NaN, Float.NEGATIVE_INFINITY};
    assertThat(KvDtype.F32.encode(v)).hasSize(4 * v.length);
    float[] back = roundTrip(KvDtype.F32, v);
    for (int i = 0; i < v.length; i++) {
      assertThat(Float.floatToRawIntBits(back[i]))
          .as("value %d", i)
          .isEqualTo(Float.floatToRawIntBits(v[i]));
    }
  }

  @Test
  void bf16RoundsToNearestEvenAndHalvesTheBytes() {
    // 1 + 2^-8 lies exactly between 1 and 1 + 2^-7: ties go to the even mantissa (1).
    float tieDown = Float.intBitsToFloat(0x3f808000);
    // 1 + 3 * 2^-8 lies between 1 + 2^-7 (odd) and 1 + 2^-6 (even): it goes up.
    float tieUp = Float.intBitsToFloat(0x3f818000);
    float above = Float.intBitsToFloat(0x3f808001);
    float[] v = {1f, tieDown, tieUp, above, -2.5f, Float.POSITIVE_INFINITY};
    assertThat(KvDtype.BF16.encode(v)).hasSize(2 * v.length);
    assertThat(roundTrip(KvDtype.BF16, v))
        .containsExactly(
            1f,
            1f,
            Float.intBitsToFloat(0x3f820000),
            Float.intBitsToFloat(0x3f810000),
            -2.5f,
            Float.POSITIVE_INFINITY);
  }

  @Test
  void bf16KeepsNanANanAndBoundsTheRelativeError() {
    assertThat(roundTrip(KvDtype.BF16, new float[] {Float.NaN})[0]).isNaN();
    float[] v = new float[1000];
    java.util.SplittableRandom r = new java.util.SplittableRandom(3);
    for (int i = 0; i < v.length; i++) {
      v[i] = (float) (r.nextGaussian() * Math.pow(10, r.nextInt(-6, 6)));
    }
    float[] back = roundTrip(KvDtype.BF16, v);
    for (int i = 0; i < v.length; i++) {
      assertThat(Math.abs(back[i] - v[i]))
          .as("value %d: %s became %s", i, v[i], back[i])
          .isLessThanOrEqualTo(Math.abs(v[i]) / 256);
    }
  }

  @Test
  void parsesTheNamesUsersType() {
    assertThat(KvDtype.parse("bf16")).isEqualTo(KvDtype.BF16);
    assertThat(KvDtype.parse("F32")).isEqualTo(KvDtype.F32);
    assertThatThrownBy(() -> KvDtype.parse("fp8"))
        .hasMessage("kv dtype fp8 is not one of f32, bf16");
  }
}
