package io.disaggmoe.model.cache;

import ai.djl.ndarray.NDArray;

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
   * Writes {@code latent} ({@code [n, latentDim]}) at positions {@code position .. position+n-1}.
   */
  void write(int layer, int position, NDArray latent);

  /** Positions {@code 0 .. end-1} of {@code layer}, {@code [end, latentDim]}. */
  NDArray read(int layer, int end);

  /** Marks positions below {@code length} as complete in every layer. */
  void commit(int length);

  @Override
  void close();
}
