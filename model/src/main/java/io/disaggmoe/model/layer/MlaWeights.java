package io.disaggmoe.model.layer;

import ai.djl.ndarray.NDArray;
import io.disaggmoe.model.kernel.WeightMatrix;

/**
 * The projections of one MLA block, as stored in the checkpoint ({@code [out, in]}). {@link
 * MlaAttention} takes {@code kvB}'s per-head halves for the absorbed path's folds and drops it
 * ({@link #withoutKvB}); {@code kvBWidened} is {@code kv_b} as a float32 NDArray for the naive
 * path's torch calls, null where attention is absorbed. Either {@code qA}, {@code qNorm} and {@code
 * qB} (query LoRA) or {@code q} (direct projection) are set.
 */
public record MlaWeights(
    WeightMatrix qA,
    RmsNorm qNorm,
    WeightMatrix qB,
    WeightMatrix q,
    WeightMatrix kvA,
    RmsNorm kvNorm,
    WeightMatrix kvB,
    NDArray kvBWidened,
    WeightMatrix o) {
  /** These weights without {@code kvB}, once its values are held elsewhere. */
  public MlaWeights withoutKvB() {
    return new MlaWeights(qA, qNorm, qB, q, kvA, kvNorm, null, kvBWidened, o);
  }
}
