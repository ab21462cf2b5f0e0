package io.disaggmoe.model.config;

/**
 * Block-wise FP8 quantisation of a checkpoint ({@code quantization_config} with {@code quant_method
 * "fp8"}): each {@code weight} has a {@code weight_scale_inv} of one float per block.
 */
public record QuantizationConfig(String quantMethod, String format, int blockRows, int blockCols) {}
