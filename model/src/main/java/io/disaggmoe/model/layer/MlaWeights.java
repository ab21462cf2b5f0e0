package io.disaggmoe.model.layer;

import ai.djl.ndarray.NDArray;
import io.disaggmoe.model.kernel.WeightMatrix;

/**
 * The projections of one MLA block, as stored in the checkpoint ({@code [out, in]}). {@code kvB} is
 * widened to float32 once: both attention paths multiply by it in per-head slices, over every
 * cached position. Either {@code qA}, {@code qNorm} and {@code qB} (query LoRA) or {@code q}
 * (direct projection) are set.
 */
public record MlaWeights(
    WeightMatrix qA,
    NDArray qNorm,
    WeightMatrix qB,
    WeightMatrix q,
    WeightMatrix kvA,
    NDArray kvNorm,
    NDArray kvB,
    WeightMatrix o) {}
