package io.disaggmoe.cli;

import io.disaggmoe.model.config.ModelConfig;
import java.util.stream.IntStream;

/**
 * The arithmetic of a decode step, from a model's config: multiply-adds per token of the weights
 * every token passes through (attention's projections and absorbed folds, dense MLPs, gates, shared
 * experts, the LM head) and of the routed experts it chooses; and per cached position, the latent
 * row's bytes and the float operations of attending over it (every head scores {@code c_kv} and
 * {@code k_pe}, and weights {@code c_kv}) in every layer.
 *
 * <p>Counted for absorbed attention, the default: the naive path ({@code --attn naive}) expands
 * every cached position through {@code kv_b}, so for it these are a lower bound.
 */
record StepCost(
    long denseMacsPerToken,
    long expertMacsPerToken,
    long cacheBytesPerPosition,
    long attentionFlopsPerPosition) {

  static StepCost of(ModelConfig c) {
    long hidden = c.hiddenSize();
    long heads = c.numAttentionHeads();
    long rank = c.kvLoraRank();
    long query =
        c.hasQLora()
            ? hidden * c.qLoraRank() + (long) c.qLoraRank() * heads * c.qkHeadDim()
            : hidden * heads * c.qkHeadDim();
    long attention =
        query
            + hidden * c.latentDim()
            + heads * (c.qkNopeHeadDim() * rank + rank * c.vHeadDim())
            + heads * c.vHeadDim() * hidden;
    long swiglu = 3 * hidden * c.moeIntermediateSize();
    long moeLayers = IntStream.range(0, c.numHiddenLayers()).filter(c::isMoeLayer).count();
    long denseLayers = c.numHiddenLayers() - moeLayers;
    long dense =
        c.numHiddenLayers() * attention
            + denseLayers * 3 * hidden * c.intermediateSize()
            + moeLayers * (hidden * c.nRoutedExperts() + c.nSharedExperts() * swiglu)
            + hidden * c.vocabSize();
    long perLayer = 2 * heads * (c.latentDim() + rank);
    return new StepCost(
        dense,
        moeLayers * c.numExpertsPerTok() * swiglu,
        4L * c.numHiddenLayers() * c.latentDim(),
        c.numHiddenLayers() * perLayer);
  }
}
