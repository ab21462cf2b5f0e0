package io.disaggmoe.model.weights;

/**
 * Decodes float8 e4m3fn: sign, 4 exponent bits with bias 7, 3 mantissa bits, no infinities, NaN
 * only for {@code S.1111.111}, subnormals {@code m * 2^-9}.
 */
public final class Fp8E4m3 {
  private static final float[] TABLE = new float[256];

  /** The byte of 448, the largest finite magnitude (0x7F is NaN). */
  private static final int MAX_MAGNITUDE = 0x7E;

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

  /**
   * The nearest e4m3fn byte to {@code v} (round to nearest, ties to the even byte; saturates at
   * 448). Zero, and whatever rounds to it, is 0x80 (as a search over all 256 bytes in order gives
   * it). A binary search over the 127 ordered magnitudes: quantizing a checkpoint calls this once
   * per weight.
   */
  public static byte fromFloat(float v) {
    if (Float.isNaN(v)) {
      return 0x7F;
    }
    float a = Math.abs(v);
    int lo = 0;
    int hi = MAX_MAGNITUDE;
    // The largest magnitude index whose value is at most a (TABLE[0..126] ascends).
    while (lo < hi) {
      int mid = (lo + hi + 1) >>> 1;
      if (TABLE[mid] <= a) {
        lo = mid;
      } else {
        hi = mid - 1;
      }
    }
    int b = lo;
    if (b < MAX_MAGNITUDE) {
      float below = a - TABLE[b];
      float above = TABLE[b + 1] - a;
      if (above < below || (above == below && ((b + 1) & 1) == 0)) {
        b++;
      }
    }
    if (b == 0) {
      return (byte) 0x80;
    }
    return (byte) (v < 0 ? b | 0x80 : b);
  }
}
