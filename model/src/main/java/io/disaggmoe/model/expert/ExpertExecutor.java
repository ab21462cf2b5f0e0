package io.disaggmoe.model.expert;

import io.disaggmoe.model.layer.RoutingDecision;
import java.util.concurrent.CompletableFuture;

/**
 * Runs the routed experts of one MoE layer: the seam between attention and expert pools.
 *
 * <p>The in-process implementation gives the monolithic model; a remote one sends the same
 * arguments to the pools that hold the experts, which is what makes disaggregation possible. The
 * result is a future so that a caller can run other work (the other micro-batch's attention) while
 * remote experts compute.
 */
public interface ExpertExecutor extends AutoCloseable {
  /**
   * Returns {@code [tokens, dim]} row-major: for each token, the sum over its chosen experts of the
   * routing weight times that expert's output. {@code hidden} is {@code [tokens, dim]} row-major.
   */
  CompletableFuture<float[]> dispatch(int layer, float[] hidden, int dim, RoutingDecision routing);

  /**
   * Called before each forward pass, which runs its layers' dispatches before the next pass begins:
   * a remote executor takes up a newer routing table here, so that a pass routes by one table.
   */
  default void beginPass() {}

  /** Called after each forward pass, whether it completed or failed. */
  default void endPass() {}

  @Override
  default void close() {}
}
