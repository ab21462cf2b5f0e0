package io.disaggmoe.model.layer;

import ai.djl.ndarray.NDArray;
import io.disaggmoe.model.expert.ExpertExecutor;

/**
 * DeepSeekMoE: the gate picks routed experts per token, an {@link ExpertExecutor} runs them (here
 * or in remote pools), and the always-on shared experts are added.
 */
public final class MoeLayer implements FeedForward {
  private final int layer;
  private final MoeGate gate;
  private final Expert shared;
  private final ExpertExecutor executor;

  /** {@code shared} is null when the config has no shared experts. */
  public MoeLayer(int layer, MoeGate gate, Expert shared, ExpertExecutor executor) {
    this.layer = layer;
    this.gate = gate;
    this.shared = shared;
    this.executor = executor;
  }

  @Override
  public NDArray forward(NDArray x) {
    RoutingDecision routing = gate.forward(x);
    NDArray routed = executor.execute(layer, x, routing);
    return shared == null ? routed : routed.add(shared.forward(x));
  }
}
