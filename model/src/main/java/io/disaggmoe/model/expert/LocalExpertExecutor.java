package io.disaggmoe.model.expert;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.disaggmoe.model.layer.RoutingDecision;

/**
 * Runs routed experts in this process, grouped per expert: each expert sees all of its tokens in
 * one matrix, in ascending expert order, and the weighted outputs are summed per token in that
 * order, as the reference implementation does.
 */
public final class LocalExpertExecutor implements ExpertExecutor {
  private final RoutedExperts experts;

  public LocalExpertExecutor(RoutedExperts experts) {
    this.experts = experts;
  }

  @Override
  public NDArray execute(int layer, NDArray hidden, RoutingDecision routing) {
    int tokens = routing.tokens();
    int dim = (int) hidden.getShape().get(1);
    float[] x = hidden.toFloatArray();
    float[] out = new float[tokens * dim];
    for (ExpertBatch batch : ExpertBatch.group(routing)) {
      float[] rows = batch.gatherRows(x, dim);
      NDManager m = hidden.getManager();
      NDArray y =
          experts.get(layer, batch.expert()).forward(m.create(rows, new Shape(batch.size(), dim)));
      batch.scatterWeighted(y.toFloatArray(), out, dim);
    }
    return hidden.getManager().create(out, new Shape(tokens, dim));
  }
}
