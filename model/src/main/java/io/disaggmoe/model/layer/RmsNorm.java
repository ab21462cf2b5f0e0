package io.disaggmoe.model.layer;

import ai.djl.ndarray.NDArray;

/** RMSNorm over the last axis: {@code w * x / sqrt(mean(x²) + eps)}. */
public final class RmsNorm {
  private final NDArray weight;
  private final float eps;

  public RmsNorm(NDArray weight, double eps) {
    this.weight = weight;
    this.eps = (float) eps;
  }

  public NDArray forward(NDArray x) {
    NDArray meanSquare = x.square().mean(new int[] {-1}, true);
    return x.mul(meanSquare.add(eps).pow(-0.5)).mul(weight);
  }
}
