package io.disaggmoe.model.layer;

import ai.djl.ndarray.NDArray;

/**
 * The second half of a decoder layer: a dense MLP or an MoE block, over {@code [tokens, hidden]}.
 */
public interface FeedForward {
  NDArray forward(NDArray x);
}
