package io.disaggmoe.model.layer;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Activation;
import ai.djl.nn.core.Linear;

/** Tensor helpers shared by the layers, each one torch call or a fixed pair of them. */
public final class Ops {
  private Ops() {}

  /** {@code x · wᵀ} for a weight stored {@code [out, in]} as in the checkpoint (torch's linear). */
  public static NDArray linear(NDArray x, NDArray weight) {
    return Linear.linear(x, weight).singletonOrThrow();
  }

  /** SiLU, {@code x * sigmoid(x)}. */
  public static NDArray silu(NDArray x) {
    return x.mul(Activation.sigmoid(x));
  }
}
