package io.disaggmoe.attention.client;

/** {@code tokens} positions of every layer, {@code [layers, tokens, latentDim]} F32 row-major. */
public record LatentBlock(int tokens, float[] data) {}
