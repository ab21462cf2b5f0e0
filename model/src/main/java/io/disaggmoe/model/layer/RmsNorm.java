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

  public RmsNorm(NDArray weight, double eps) {
    this.w = weight.toFloatArray();
    this.eps = (float) eps;
  }

  /** Bytes of the weight (float32 in memory). */
  public long bytes() {
    return (long) w.length * Float.BYTES;
  }

  public NDArray forward(NDArray x) {
    float[] v = x.toFloatArray();
    int dim = w.length;
    for (int row = 0; row < v.length; row += dim) {
      double squares = 0;
      for (int i = row; i < row + dim; i++) {
        squares += (double) v[i] * v[i];
      }
      float scale = (float) (1 / Math.sqrt((float) (squares / dim) + eps));
      for (int i = 0; i < dim; i++) {
        v[row + i] = v[row + i] * scale * w[i];
      }
    }
    return x.getManager().create(v, x.getShape());
  }
}
