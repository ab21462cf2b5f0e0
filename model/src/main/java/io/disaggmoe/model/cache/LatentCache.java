package io.disaggmoe.model.cache;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

/**
 * The MLA latent cache of one sequence: per layer and position, {@code c_kv} (after its norm)
 * followed by the rotated {@code k_pe}, {@code kv_lora_rank + qk_rope_head_dim} values.
 *
 * <p>Attention writes a step's rows into every layer, then the model commits the new length once.
 * Local in decode; backed by the kv-cache service between prefill and decode.
 */
public interface LatentCache extends AutoCloseable {
  /** Positions committed so far; the next step writes from here. */
  int length();

  /**
   * Writes rows {@code from .. from+n-1} of {@code rows} ({@code [·, latentDim]} row-major) at
   * positions {@code position .. position+n-1} of {@code layer}.
   */
  void write(int layer, int position, float[] rows, int from, int n);

  /** Positions {@code 0 .. end-1} of {@code layer} as one new {@code [end, latentDim]} array. */
  NDArray read(int layer, int end, NDManager manager);

  /**
   * Hands positions {@code 0 .. end-1} of {@code layer} to {@code run} in place, one run of
   * consecutive positions at a time, in position order.
   */
  default void forEachRun(int layer, int end, Run run) {
    forEachRun(layer, 0, end, run);
  }

  /** As {@link #forEachRun(int, int, Run)}, for positions {@code from .. end-1}. */
  void forEachRun(int layer, int from, int end, Run run);

  /** Positions {@code first .. first+count-1}, the first one at {@code data[offset]}. */
  interface Run {
    void at(float[] data, int offset, int first, int count);
  }

  /** Marks positions below {@code length} as complete in every layer. */
  void commit(int length);

  @Override
  void close();
}
