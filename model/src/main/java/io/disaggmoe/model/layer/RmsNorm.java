package io.disaggmoe.model.layer;

import ai.djl.ndarray.NDArray;

/**
 * RMSNorm over the last axis: {@code w * x / sqrt(mean(x²) + eps)}.
 *
 * <p>Computed here rather than by torch, row by row in a fixed order: torch reduces a one-row
 * tensor and a many-row one along different code paths, so a row's norm (and every later logit)
 * changed in the last bit with the rows batched beside it.
 */
public final class RmsNorm {
  private final float[] w;
  private final float eps;

  public RmsNorm(float[] weight, double eps) {
    this.w = weight;
    this.eps = (float) eps;
  }

  /** Bytes of the weight (float32 in memory). */
  public long bytes() {
    return (long) w.length * Float.BYTES;
  }

  public NDArray forward(NDArray x) {
    float[] v = x.toFloatArray();
    for (int row = 0; row < v.length; row += w.length) {
      normalize(v, row, v, row);
    }
    return x.getManager().create(v, x.getShape());
  }

  /** Every row of {@code x} ({@code rows} of this norm's width), normalised into a new array. */
  public float[] forward(float[] x) {
    float[] y = new float[x.length];
    for (int row = 0; row < x.length; row += w.length) {
      normalize(x, row, y, row);
    }
    return y;
  }

  /**
   * The row at {@code x[from..]}, normalised into {@code y[to..]} (which may be the same place).
   */
  public void normalize(float[] x, int from, float[] y, int to) {
    int dim = w.length;
    double squares = 0;
    for (int i = from; i < from + dim; i++) {
      squares += (double) x[i] * x[i];
    }
    float scale = (float) (1 / Math.sqrt((float) (squares / dim) + eps));
    for (int i = 0; i < dim; i++) {
      y[to + i] = x[from + i] * scale * w[i];
    }
  }
}
