package io.disaggmoe.model.expert;

import ai.djl.ndarray.NDManager;
import io.disaggmoe.model.ComputeThread;
import io.disaggmoe.model.kernel.KernelThreads;
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
    float[][] ys = new float[batches.size()][];
    long bytes = 0;
    boolean floats = true;
    for (ExpertBatch batch : batches) {
      Expert e = experts.get(layer, batch.expert());
      bytes += e.bytes();
      floats &= e.multipliesFloats(batch.size());
    }
    if (floats) {
      // Whole experts shared among the kernel threads, each run by one thread: a decode step's
      // experts are small (three 1 MB matrices in `bench`), and sharing each matrix's rows cost two
      // waits for the helpers per expert. An expert's result is the same on any thread, and the
      // sums below keep expert order.
      KernelThreads.forChunks(
          batches.size(),
          1,
          bytes,
          (from, to) -> {
            for (int i = from; i < to; i++) {
              ys[i] = forward(layer, hidden, dim, batches.get(i));
            }
          });
    } else {
      for (int i = 0; i < ys.length; i++) {
        ys[i] = forward(layer, hidden, dim, batches.get(i));
      }
    }
    for (int i = 0; i < ys.length; i++) {
      batches.get(i).scatterWeighted(ys[i], out, dim);
      passes.incrementAndGet();
    }
  }

  private float[] forward(int layer, float[] hidden, int dim, ExpertBatch batch) {
    return experts
        .get(layer, batch.expert())
        .forward(batch.gatherRows(hidden, dim), batch.size(), manager);
  }
}
