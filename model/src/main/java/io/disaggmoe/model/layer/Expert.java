package io.disaggmoe.model.layer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import io.disaggmoe.model.kernel.MatMul;
import io.disaggmoe.model.kernel.WeightMatrix;

/**
 * A SwiGLU MLP, {@code down(silu(gate(x)) * up(x))}: the dense layers, the shared experts and every
 * routed expert have this form and differ only in width.
 */
public final class Expert implements FeedForward {
  private final WeightMatrix gateProj;
  private final WeightMatrix upProj;
  private final WeightMatrix downProj;

  public Expert(WeightMatrix gateProj, WeightMatrix upProj, WeightMatrix downProj) {
    this.gateProj = gateProj;
    this.upProj = upProj;
    this.downProj = downProj;
  }

  /** Bytes of the three weight matrices, in their checkpoint dtype. */
  @Override
  public long bytes() {
    return gateProj.bytes() + upProj.bytes() + downProj.bytes();
  }

  @Override
  public NDArray forward(NDArray x) {
    int n = (int) x.getShape().get(0);
    if (MatMul.needsTorch(gateProj, n)) {
      NDArray gated = Ops.silu(gateProj.apply(x)).mul(upProj.apply(x));
      return downProj.apply(gated);
    }
    return x.getManager().create(forward(x.toFloatArray(), n), new Shape(n, downProj.rows()));
  }

  /**
   * The same for {@code n} rows held in a float array, without NDArrays: what a decode step's
   * experts take when the Vector API kernel runs them (see {@link MatMul#needsTorch}).
   */
  public float[] forward(float[] x, int n) {
    int inter = gateProj.rows();
    float[] gate = new float[n * inter];
    float[] up = new float[n * inter];
    gateProj.multiply(x, n, gate);
    upProj.multiply(x, n, up);
    for (int i = 0; i < gate.length; i++) {
      float g = gate[i];
      gate[i] = g / (1 + (float) Math.exp(-g)) * up[i];
    }
    float[] y = new float[n * downProj.rows()];
    downProj.multiply(gate, n, y);
    return y;
  }

  /** Whether {@link #forward(float[], int)} can run {@code n} rows (else NDArrays must). */
  public boolean runsAsFloats(int n) {
    return !MatMul.needsTorch(gateProj, n);
  }
}
