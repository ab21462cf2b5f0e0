package io.disaggmoe.model;

import ai.djl.ndarray.NDManager;
import io.disaggmoe.model.config.ModelConfig;
import io.disaggmoe.model.expert.ExpertExecutor;
import io.disaggmoe.model.kernel.WeightMatrix;
import io.disaggmoe.model.layer.AttentionMode;
import io.disaggmoe.model.layer.DecoderLayer;
import io.disaggmoe.model.layer.Expert;
import io.disaggmoe.model.layer.FeedForward;
import io.disaggmoe.model.layer.MlaAttention;
import io.disaggmoe.model.layer.MlaWeights;
import io.disaggmoe.model.layer.MoeGate;
import io.disaggmoe.model.layer.MoeLayer;
import io.disaggmoe.model.layer.RmsNorm;
import io.disaggmoe.model.layer.RotaryEmbedding;
import io.disaggmoe.model.weights.Checkpoint;

/**
 * Builds decoder layers from checkpoint tensors with the HF DeepSeek names, checking each shape
 * against the config. Routed experts are not read here: they belong to the {@link ExpertExecutor}.
 */
final class ModelLoader {
  private final Checkpoint ckpt;
  private final ModelConfig c;
  private final NDManager manager;

  ModelLoader(Checkpoint ckpt, ModelConfig config, NDManager manager) {
    this.ckpt = ckpt;
    this.c = config;
    this.manager = manager;
  }

  WeightMatrix weight(String name, int rows, int cols) {
    return ckpt.weight(name, rows, cols);
  }

  RmsNorm norm(String name, int dim) {
    return new RmsNorm(ckpt.readFloats(name, dim), c.rmsNormEps());
  }

  DecoderLayer layer(int i, RotaryEmbedding rotary, AttentionMode mode, ExpertExecutor experts) {
    String p = "model.layers." + i + ".";
    MlaAttention attention = new MlaAttention(i, c, mla(p + "self_attn.", mode), rotary, mode);
    FeedForward ffn =
        c.isMoeLayer(i) ? moe(i, p + "mlp.", experts) : expert(p + "mlp.", c.intermediateSize());
    return new DecoderLayer(
        norm(p + "input_layernorm.weight", c.hiddenSize()),
        attention,
        norm(p + "post_attention_layernorm.weight", c.hiddenSize()),
        ffn);
  }

  private MlaWeights mla(String p, AttentionMode mode) {
    int d = c.hiddenSize();
    int qOut = c.numAttentionHeads() * c.qkHeadDim();
    boolean lora = c.hasQLora();
    WeightMatrix kvB =
        weight(
            p + "kv_b_proj.weight",
            c.numAttentionHeads() * (c.qkNopeHeadDim() + c.vHeadDim()),
            c.kvLoraRank());
    return new MlaWeights(
        lora ? weight(p + "q_a_proj.weight", c.qLoraRank(), d) : null,
        lora ? norm(p + "q_a_layernorm.weight", c.qLoraRank()) : null,
        lora ? weight(p + "q_b_proj.weight", qOut, c.qLoraRank()) : null,
        lora ? null : weight(p + "q_proj.weight", qOut, d),
        weight(p + "kv_a_proj_with_mqa.weight", c.latentDim(), d),
        norm(p + "kv_a_layernorm.weight", c.kvLoraRank()),
        kvB,
        mode == AttentionMode.NAIVE ? kvB.widened(manager) : null,
        weight(p + "o_proj.weight", d, c.numAttentionHeads() * c.vHeadDim()));
  }

  private Expert expert(String p, int inter) {
    int d = c.hiddenSize();
    return new Expert(
        weight(p + "gate_proj.weight", inter, d),
        weight(p + "up_proj.weight", inter, d),
        weight(p + "down_proj.weight", d, inter));
  }

  private MoeLayer moe(int layer, String p, ExpertExecutor experts) {
    String biasName = p + "gate.e_score_correction_bias";
    float[] bias = ckpt.contains(biasName) ? ckpt.readFloats(biasName, c.nRoutedExperts()) : null;
    MoeGate gate =
        new MoeGate(c, weight(p + "gate.weight", c.nRoutedExperts(), c.hiddenSize()), bias);
    Expert shared =
        c.nSharedExperts() > 0
            ? expert(p + "shared_experts.", c.nSharedExperts() * c.moeIntermediateSize())
            : null;
    return new MoeLayer(layer, gate, shared, experts);
  }
}
