package io.disaggmoe.model.expert;

/** One routed expert of one MoE layer. */
public record ExpertKey(int layer, int expert) {}
