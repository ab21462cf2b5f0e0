package io.disaggmoe.model.weights;

/**
 * Decodes float8 e4m3fn: sign, 4 exponent bits with bias 7, 3 mantissa bits, no infinities, NaN
 * only for {@code S.1111.111}, subnormals {@code m * 2^-9}.
 */
public final class Fp8E4m3 {
  private static final float[] TABLE = new float[256];

  static {
    for (int b = 0; b < 256; b++) {
      TABLE[b] = decodeSlow(b);
    }
  }

  private Fp8E4m3() {}

  /** The float value of one e4m3fn byte. */
  public static float toFloat(byte b) {
    return TABLE[b & 0xFF];
  }

  private static float decodeSlow(int b) {
    int sign = (b >> 7) & 1;
    int exp = (b >> 3) & 0xF;
    int mant = b & 0x7;
    float v;
    if (exp == 0xF && mant == 0x7) {
      v = Float.NaN;
    } else if (exp == 0) {
      v = mant * 0x1p-9f;
    } else {
      v = (1.0f + mant / 8.0f) * (float) Math.pow(2, exp - 7);
    }
    return sign == 1 ? -v : v;
  }

  /** The nearest e4m3fn byte to {@code v} (round to nearest, ties to even; saturates at 448). */
  public static byte fromFloat(float v) {
    if (Float.isNaN(v)) {
      return 0x7F;
    }
    int best = 0;
    float bestErr = Float.POSITIVE_INFINITY;
    for (int b = 0; b < 256; b++) {
      float t = TABLE[b];
      if (Float.isNaN(t)) {
        continue;
      }
      float err = Math.abs(t - v);
      if (err < bestErr || (err == bestErr && (b & 1) == 0)) {
        best = b;
        bestErr = err;
      }
    }
    return (byte) best;
  }
}
