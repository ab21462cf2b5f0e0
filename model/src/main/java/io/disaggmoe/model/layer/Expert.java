package io.disaggmoe.model.layer;

import ai.djl.ndarray.NDArray;

/**
 * A SwiGLU MLP, {@code down(silu(gate(x)) * up(x))}: the dense layers, the shared experts and every
 * routed expert have this form and differ only in width.
 */
public final class Expert implements FeedForward {
  private final NDArray gateProj;
  private final NDArray upProj;
  private final NDArray downProj;

  public Expert(NDArray gateProj, NDArray upProj, NDArray downProj) {
    this.gateProj = gateProj;
    this.upProj = upProj;
    this.downProj = downProj;
  }

  /** Bytes of the three weight matrices. */
  public long bytes() {
    long n = 0;
    for (NDArray w : new NDArray[] {gateProj, upProj, downProj}) {
      n += w.size() * w.getDataType().getNumOfBytes();
    }
    return n;
  }

  @Override
  public NDArray forward(NDArray x) {
    NDArray gated = Ops.silu(Ops.linear(x, gateProj)).mul(Ops.linear(x, upProj));
    return Ops.linear(gated, downProj);
  }
}
