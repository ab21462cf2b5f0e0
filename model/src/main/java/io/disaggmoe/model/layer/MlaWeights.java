package io.disaggmoe.model.layer;

import ai.djl.ndarray.NDArray;

/**
 * The projections of one MLA block, as stored in the checkpoint ({@code [out, in]}). Either {@code
 * qA}, {@code qNorm} and {@code qB} (query LoRA) or {@code q} (direct projection) are set.
 */
public record MlaWeights(
    NDArray qA,
    NDArray qNorm,
    NDArray qB,
    NDArray q,
    NDArray kvA,
    NDArray kvNorm,
    NDArray kvB,
    NDArray o) {}
