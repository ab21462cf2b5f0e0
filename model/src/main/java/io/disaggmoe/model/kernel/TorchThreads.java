package io.disaggmoe.model.kernel;

import ai.djl.pytorch.jni.JniUtils;

/**
 * How many OpenMP threads libtorch's ops use, chosen per forward pass. A decode pass's torch ops
 * (attention, RoPE, norms over a few rows) are microseconds each, and forking and joining a team
 * for every one cost more than it saved: a batch-1 step of the bench model spent 19 ms outside the
 * matmul kernels with 2 OpenMP threads and 8 ms with 1, and the spinning team took the core the
 * kernel's helper thread needs. A prefill pass's attention is GEMMs that want every core: one
 * thread there took a 2048-token prompt from 10-17 s to 18-22 s.
 */
public final class TorchThreads {
  private static int all;
  private static int current;

  private TorchThreads() {}

  /**
   * Sets libtorch's thread count for a pass over {@code rows} rows: one up to {@link
   * MatMul#ROW_BLOCK} (a decode step, whose matrices the Vector API kernels multiply), else as many
   * as it had at start. Call on the thread that runs the pass.
   */
  public static synchronized void forPass(int rows) {
    if (all == 0) {
      all = JniUtils.getNumThreads();
      current = all;
    }
    int wanted = rows <= MatMul.ROW_BLOCK && MatMul.vectorAvailable() ? 1 : all;
    if (wanted != current) {
      JniUtils.setNumThreads(wanted);
      current = wanted;
    }
  }
}
