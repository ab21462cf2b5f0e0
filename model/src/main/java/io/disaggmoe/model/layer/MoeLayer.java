package io.disaggmoe.model.layer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import io.disaggmoe.model.expert.ExpertExecutor;
import io.disaggmoe.model.kernel.KernelThreads;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.function.Supplier;

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

  /** The gate and the shared experts; the routed experts belong to the executor. */
  @Override
  public long bytes() {
    return gate.bytes() + (shared == null ? 0 : shared.bytes());
  }

  @Override
  public NDArray forward(NDArray x) {
    return start(x).get();
  }

  /** Sends the routed experts' work off first, then computes the shared experts meanwhile. */
  @Override
  public Supplier<NDArray> start(NDArray x) {
    RoutingDecision routing = gate.forward(x);
    Shape shape = x.getShape();
    CompletableFuture<float[]> routed =
        executor.dispatch(layer, x.toFloatArray(), (int) shape.get(1), routing);
    NDArray sharedOut = shared == null ? null : shared.forward(x);
    return () -> {
      NDArray r = x.getManager().create(join(routed), shape);
      return sharedOut == null ? r : r.add(sharedOut);
    };
  }

  @Override
  public boolean runsFloats(int rows) {
    return gate.multipliesFloats(rows) && (shared == null || shared.multipliesFloats(rows));
  }

  @Override
  public Supplier<float[]> start(float[] x, int rows) {
    RoutingDecision routing = gate.forward(x, rows);
    CompletableFuture<float[]> routed = executor.dispatch(layer, x, x.length / rows, routing);
    Supplier<float[]> sharedOut = shared == null ? null : shared.start(x, rows);
    return () -> {
      float[] r = join(routed);
      if (sharedOut != null) {
        float[] s = sharedOut.get();
        for (int i = 0; i < r.length; i++) {
          r[i] += s[i];
        }
      }
      return r;
    };
  }

  private static float[] join(CompletableFuture<float[]> f) {
    if (!f.isDone()) {
      // Remote experts: the helpers would spin through the round trip on cores the pools need.
      KernelThreads.rest();
    }
    try {
      return f.join();
    } catch (CompletionException e) {
      if (e.getCause() instanceof RuntimeException r) {
        throw r;
      }
      throw e;
    }
  }
}
