package io.disaggmoe.model.kernel;

/**
 * Activations times a power of two, as the FP8 and F16 kernels take them (their widened weights are
 * the weights times a negative power of two): in this thread's buffer, kept between calls, up to
 * {@link #KEPT_FLOATS} (a decode step's rows), in a new array past it (a long prompt's, not kept).
 * A kernel call uses the buffer only until it returns, and calls on one thread do not nest.
 */
final class ScaledActivations {
  /** The most activations a thread keeps a buffer for: 2M floats, 8 MB. */
  private static final int KEPT_FLOATS = 1 << 21;

  private static final ThreadLocal<float[]> KEPT = ThreadLocal.withInitial(() -> new float[0]);

  private ScaledActivations() {}

  /** {@code x[0, count)} times {@code factor}, exact where {@code factor} is a power of two. */
  static float[] of(float[] x, int count, float factor) {
    float[] out = count > KEPT_FLOATS ? new float[count] : KEPT.get();
    if (out.length < count) {
      out = new float[count];
      KEPT.set(out);
    }
    for (int i = 0; i < count; i++) {
      out[i] = x[i] * factor;
    }
    return out;
  }
}
