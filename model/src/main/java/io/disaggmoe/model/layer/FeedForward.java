package io.disaggmoe.model.layer;

import ai.djl.ndarray.NDArray;
import java.util.function.Supplier;

/**
 * The second half of a decoder layer: a dense MLP or an MoE block, over {@code [tokens, hidden]}.
 */
public interface FeedForward {
  NDArray forward(NDArray x);

  /** Bytes of weights held here that every step reads (routed experts held elsewhere excluded). */
  long bytes();

  /**
   * Starts the work and returns how to get its result, so a caller can do other work in between (an
   * MoE block's routed experts may be computing in remote pools meanwhile).
   */
  default Supplier<NDArray> start(NDArray x) {
    NDArray y = forward(x);
    return () -> y;
  }

  /** Whether {@link #start(float[], int)} can take {@code rows} rows (else it needs NDArrays). */
  boolean runsFloats(int rows);

  /** {@link #start(NDArray)} for {@code rows} rows held in a float array. */
  Supplier<float[]> start(float[] x, int rows);
}
