package io.disaggmoe.model.expert;

import ai.djl.ndarray.NDManager;
import io.disaggmoe.model.ComputeThread;
import io.disaggmoe.model.layer.Expert;
import io.disaggmoe.model.layer.RoutingDecision;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Runs routed experts in this process, grouped per expert: each expert sees all of its tokens in
 * one matrix, in ascending expert order, and the weighted outputs are summed per token in that
 * order, as the reference implementation does; expert pools sum each token's outputs in that order
 * too.
 */
public final class LocalExpertExecutor implements ExpertExecutor {
  private final RoutedExperts experts;
  private final NDManager manager;
  private final AtomicLong passes = new AtomicLong();

  /**
   * {@code manager} is the parent of the short-lived manager each call works in; the experts run on
   * the models' compute thread.
   */
  public LocalExpertExecutor(RoutedExperts experts, NDManager manager) {
    this.experts = experts;
    this.manager = manager;
  }

  /** Expert passes run since start: one read of one expert's weights for all its tokens. */
  public long passes() {
    return passes.get();
  }

  public RoutedExperts experts() {
    return experts;
  }

  @Override
  public CompletableFuture<float[]> dispatch(
      int layer, float[] hidden, int dim, RoutingDecision routing) {
    return CompletableFuture.completedFuture(run(layer, hidden, dim, routing));
  }

  /** Runs the experts now; slots with expert id -1 are skipped (they belong to another pool). */
  public float[] run(int layer, float[] hidden, int dim, RoutingDecision routing) {
    float[] out = new float[routing.tokens() * dim];
    List<ExpertBatch> batches = ExpertBatch.group(routing);
    if (!batches.isEmpty()) {
      ComputeThread.shared().run(() -> runBatches(layer, hidden, dim, batches, out));
    }
    return out;
  }

  private void runBatches(
      int layer, float[] hidden, int dim, List<ExpertBatch> batches, float[] out) {
    int n = batches.size();
    Expert[] chosen = new Expert[n];
    float[][] rows = new float[n][];
    int[] counts = new int[n];
    for (int i = 0; i < n; i++) {
      ExpertBatch batch = batches.get(i);
      chosen[i] = experts.get(layer, batch.expert());
      rows[i] = batch.gatherRows(hidden, dim);
      counts[i] = batch.size();
    }
    float[][] ys = Expert.forwardEach(chosen, rows, counts, manager);
    // Summed in ascending expert order, whichever thread ran each expert.
    for (int i = 0; i < n; i++) {
      batches.get(i).scatterWeighted(ys[i], out, dim);
      passes.incrementAndGet();
    }
  }
}
