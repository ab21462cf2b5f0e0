package io.disaggmoe.model.expert;

import ai.djl.ndarray.NDArray;
import io.disaggmoe.model.layer.RoutingDecision;

/**
 * Runs the routed experts of one MoE layer: the seam between attention and expert pools.
 *
 * <p>The in-process implementation gives the monolithic model; a remote one sends the same
 * arguments to the pools that hold the experts, which is what makes disaggregation possible.
 */
public interface ExpertExecutor extends AutoCloseable {
  /**
   * Returns {@code [tokens, hidden]}: for each token, the sum over its chosen experts of the
   * routing weight times that expert's output. The result lives in {@code hidden}'s manager.
   */
  NDArray execute(int layer, NDArray hidden, RoutingDecision routing);

  @Override
  default void close() {}
}
