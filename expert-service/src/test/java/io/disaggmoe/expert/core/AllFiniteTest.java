package io.disaggmoe.expert.core;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;

/** The word-at-a-time finiteness scan against Float.isFinite, value by value and position. */
class AllFiniteTest {
  private static final float[] FINITE = {
    0f,
    -0f,
    1f,
    -1f,
    Float.MAX_VALUE,
    -Float.MAX_VALUE,
    Float.MIN_VALUE,
    Float.MIN_NORMAL,
    1e-40f,
    3.4e38f,
    0x1.fffffep126f
  };
  private static final float[] NON_FINITE = {
    Float.NaN,
    Float.POSITIVE_INFINITY,
    Float.NEGATIVE_INFINITY,
    Float.intBitsToFloat(0x7f800001),
    Float.intBitsToFloat(0xffc00000)
  };

  private static ByteBuffer le(float[] values) {
    ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(values);
    return b;
  }

  private static float[] filled(int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = FINITE[i % FINITE.length] * (i % 3 == 0 ? -1 : 1);
    }
    return v;
  }

  @Test
  void finiteValuesPassAtEveryLength() {
    for (int n = 0; n <= 9; n++) {
      assertThat(ExpertPool.allFinite(le(filled(n)))).as("%d finite floats", n).isTrue();
    }
  }

  @Test
  void everyNonFiniteValueIsFoundInEitherLaneAndInAnOddTail() {
    for (int n = 1; n <= 9; n++) {
      for (int at = 0; at < n; at++) {
        for (float bad : NON_FINITE) {
          float[] v = filled(n);
          v[at] = bad;
          assertThat(ExpertPool.allFinite(le(v)))
              .as("%s at index %d of %d", Float.floatToRawIntBits(bad), at, n)
              .isFalse();
        }
      }
    }
  }
}
