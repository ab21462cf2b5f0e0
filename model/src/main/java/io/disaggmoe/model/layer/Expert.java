package io.disaggmoe.model.layer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.disaggmoe.model.kernel.KernelThreads;
import io.disaggmoe.model.kernel.Vectors;
import io.disaggmoe.model.kernel.WeightMatrix;
import java.util.Arrays;
import java.util.function.Supplier;

/**
 * A SwiGLU MLP, {@code down(silu(gate(x)) * up(x))}: the dense layers, the shared experts and every
 * routed expert have this form and differ only in width.
 */
public final class Expert implements FeedForward {
  private final WeightMatrix gateProj;
  private final WeightMatrix upProj;
  private final WeightMatrix downProj;

  public Expert(WeightMatrix gateProj, WeightMatrix upProj, WeightMatrix downProj) {
    this.gateProj = gateProj;
    this.upProj = upProj;
    this.downProj = downProj;
  }

  /** Bytes of the three weight matrices, in their checkpoint dtype. */
  @Override
  public long bytes() {
    return gateProj.bytes() + upProj.bytes() + downProj.bytes();
  }

  /** Whether {@code n} rows run on float arrays (the Vector API kernels) rather than NDArrays. */
  public boolean multipliesFloats(int n) {
    return gateProj.multipliesFloats(n);
  }

  @Override
  public NDArray forward(NDArray x) {
    int n = (int) x.getShape().get(0);
    if (!multipliesFloats(n)) {
      NDArray gated = Ops.silu(gateProj.apply(x)).mul(upProj.apply(x));
      return downProj.apply(gated);
    }
    return x.getManager().create(floats(x.toFloatArray(), n), new Shape(n, downProj.rows()));
  }

  @Override
  public boolean runsFloats(int rows) {
    return multipliesFloats(rows);
  }

  @Override
  public Supplier<float[]> start(float[] x, int rows) {
    float[] y = floats(x, rows);
    return () -> y;
  }

  /**
   * The same for {@code n} rows held in a float array (what expert executors gather): without
   * NDArrays when the Vector API kernel runs them, else through {@code manager}'s NDArrays.
   */
  public float[] forward(float[] x, int n, NDManager manager) {
    if (multipliesFloats(n)) {
      return floats(x, n);
    }
    try (NDManager call = manager.newSubManager()) {
      return forward(call.create(x, new Shape(n, gateProj.cols()))).toFloatArray();
    }
  }

  /**
   * Runs each {@code experts[i]} over the {@code counts[i]} rows of {@code rows[i]} (a null expert
   * is skipped and its output left null). When all of them multiply floats, whole experts are
   * shared among the kernel threads, each run by one thread: a decode step's experts are small
   * (three 1 MB matrices in `bench`), and sharing each matrix's rows among the threads cost a wait
   * for the helpers per matrix. An expert's output is the same on any thread and in any order.
   * Otherwise they run one after another on this thread, whose manager their NDArrays belong to.
   */
  public static float[][] forwardEach(
      Expert[] experts, float[][] rows, int[] counts, NDManager manager) {
    float[][] ys = new float[experts.length][];
    long bytes = 0;
    boolean floats = true;
    for (int i = 0; i < experts.length; i++) {
      if (experts[i] != null) {
        bytes += experts[i].bytes();
        floats &= experts[i].multipliesFloats(counts[i]);
      }
    }
    // The experts with the most rows are claimed first, so that the last claims, which decide how
    // long one thread waits for the other, are the cheapest. Bench model, alternated every 2 steps
    // in one process against index order, medians: batch 8 1.2-2.2% faster in four runs, batch 32
    // 0.6% in two.
    int[] order = mostRowsFirst(counts);
    KernelThreads.Rows run =
        (from, to) -> {
          for (int j = from; j < to; j++) {
            int i = order[j];
            if (experts[i] != null) {
              ys[i] = experts[i].forward(rows[i], counts[i], manager);
            }
          }
        };
    if (floats) {
      KernelThreads.forChunks(experts.length, 1, bytes, run);
    } else {
      run.run(0, experts.length);
    }
    return ys;
  }

  /** Indices of {@code counts}, the largest count first, equal counts in index order. */
  static int[] mostRowsFirst(int[] counts) {
    // Each index under its negated count, sorted as longs: no boxing on this per-layer path, and
    // the index in the low half orders equal counts.
    long[] keys = new long[counts.length];
    for (int i = 0; i < counts.length; i++) {
      keys[i] = ((long) -counts[i] << 32) | i;
    }
    Arrays.sort(keys);
    int[] order = new int[keys.length];
    for (int i = 0; i < keys.length; i++) {
      order[i] = (int) keys[i];
    }
    return order;
  }

  private float[] floats(float[] x, int n) {
    int inter = gateProj.rows();
    float[] gate = new float[n * inter];
    float[] up = new float[n * inter];
    // Gate and up read the same rows: one handoff for both where the expert's multiplications are
    // shared among the kernel threads (shared experts, the dense layer), the same bits as two.
    // Batch-1 step medians 0-5% faster (three runs alternated in one process), batch 8 level.
    gateProj.multiplyWith(upProj, x, n, gate, up);
    Vectors.siluTimes(gate, up, gate.length);
    float[] y = new float[n * downProj.rows()];
    downProj.multiply(gate, n, y);
    return y;
  }
}
