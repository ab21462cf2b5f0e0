package io.disaggmoe.model.layer;

import ai.djl.ndarray.NDArray;
import io.disaggmoe.model.kernel.WeightMatrix;

/**
 * The projections of one MLA block, as stored in the checkpoint ({@code [out, in]}). {@code kvB} is
 * widened to float32 once: the naive path multiplies by it, the absorbed path takes its per-head
 * halves and drops it ({@link #withoutKvB}). Either {@code qA}, {@code qNorm} and {@code qB} (query
 * LoRA) or {@code q} (direct projection) are set.
 */
public record MlaWeights(
    WeightMatrix qA,
    RmsNorm qNorm,
    WeightMatrix qB,
    WeightMatrix q,
    WeightMatrix kvA,
    RmsNorm kvNorm,
    NDArray kvB,
    WeightMatrix o) {
  /** These weights without {@code kvB}, once its values are held elsewhere. */
  public MlaWeights withoutKvB() {
    return new MlaWeights(qA, qNorm, qB, q, kvA, kvNorm, null, o);
  }
}
