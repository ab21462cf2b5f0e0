package io.disaggmoe.model.config;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.SerializationFeature;
import tools.jackson.databind.json.JsonMapper;

/**
 * Reads and writes HF {@code config.json} files of DeepSeek-V3 and DeepSeek-V2 checkpoints.
 *
 * <p>Keys absent from a file take the defaults of the HF config class for its {@code model_type},
 * so V2 and V3 files both load; keys every architecture needs are required.
 */
public final class ModelConfigJson {
  private static final ObjectMapper MAPPER =
      JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT).build();

  private ModelConfigJson() {}

  /** Reads {@code dir/config.json}. */
  public static ModelConfig read(Path dir) throws IOException {
    Path file = dir.resolve("config.json");
    if (!Files.isRegularFile(file)) {
      throw new IOException("no config.json in " + dir + ": not a HF checkpoint directory");
    }
    JsonNode root;
    try {
      root = MAPPER.readTree(file.toFile());
    } catch (JacksonException e) {
      throw new IOException(file + " is not valid JSON: " + e.getOriginalMessage(), e);
    }
    try {
      return parse(root);
    } catch (IllegalArgumentException e) {
      throw new IOException(file + ": " + e.getMessage(), e);
    }
  }

  static ModelConfig parse(JsonNode n) {
    String type = n.path("model_type").asString("deepseek_v3");
    boolean v3 = !type.equals("deepseek_v2");
    int layers = required(n, "num_hidden_layers");
    QuantizationConfig quant = null;
    JsonNode q = n.path("quantization_config");
    if (q.isObject()) {
      String method = q.path("quant_method").asString("");
      if (!method.equals("fp8")) {
        throw new IllegalArgumentException(
            "quantization_config.quant_method '" + method + "' is not supported (only fp8)");
      }
      JsonNode block = q.path("weight_block_size");
      int rows = block.isArray() ? block.get(0).asInt() : 128;
      int cols = block.isArray() ? block.get(1).asInt() : 128;
      quant = new QuantizationConfig(method, q.path("fmt").asString("e4m3"), rows, cols);
    }
    RopeScaling rope = null;
    JsonNode rs = n.path("rope_scaling");
    if (rs.isObject()) {
      String kind = rs.has("type") ? rs.path("type").asString() : rs.path("rope_type").asString("");
      if (!kind.equals("yarn")) {
        throw new IllegalArgumentException(
            "rope_scaling type '" + kind + "' is not supported (only yarn)");
      }
      rope =
          new RopeScaling(
              requiredDouble(rs, "factor"),
              required(rs, "original_max_position_embeddings"),
              rs.path("beta_fast").asDouble(32),
              rs.path("beta_slow").asDouble(1),
              rs.path("mscale").asDouble(1),
              rs.path("mscale_all_dim").asDouble(0));
    }
    int routed = n.path("n_routed_experts").isNull() ? 0 : n.path("n_routed_experts").asInt(0);
    return new ModelConfig(
        type,
        required(n, "vocab_size"),
        required(n, "hidden_size"),
        required(n, "intermediate_size"),
        routed > 0 ? required(n, "moe_intermediate_size") : 0,
        layers,
        required(n, "num_attention_heads"),
        n.path("n_shared_experts").asInt(0),
        routed,
        n.path("routed_scaling_factor").asDouble(v3 ? 2.5 : 1.0),
        required(n, "kv_lora_rank"),
        n.path("q_lora_rank").isNull() ? 0 : n.path("q_lora_rank").asInt(0),
        required(n, "qk_rope_head_dim"),
        required(n, "qk_nope_head_dim"),
        required(n, "v_head_dim"),
        TopkMethod.parse(n.path("topk_method").asString(v3 ? "noaux_tc" : "greedy")),
        intOr(n, "n_group", 1),
        intOr(n, "topk_group", 1),
        required(n, "num_experts_per_tok"),
        n.path("first_k_dense_replace").asInt(0),
        Math.max(1, n.path("moe_layer_freq").asInt(1)),
        n.path("norm_topk_prob").asBoolean(v3),
        ScoringFunction.parse(n.path("scoring_func").asString(v3 ? "sigmoid" : "softmax")),
        n.path("rope_theta").asDouble(10000),
        rope,
        n.path("max_position_embeddings").asInt(4096),
        n.path("rms_norm_eps").asDouble(1e-6),
        n.path("tie_word_embeddings").asBoolean(false),
        intOr(n, "bos_token_id", 0),
        intOr(n, "eos_token_id", 1),
        n.path("num_nextn_predict_layers").asInt(0),
        quant);
  }

  /** Writes {@code config} as an HF {@code config.json} into {@code dir}. */
  public static void write(ModelConfig c, Path dir) throws IOException {
    Map<String, Object> m = new LinkedHashMap<>();
    boolean v3 = !c.modelType().equals("deepseek_v2");
    m.put("architectures", List.of(v3 ? "DeepseekV3ForCausalLM" : "DeepseekV2ForCausalLM"));
    m.put("model_type", c.modelType());
    m.put("vocab_size", c.vocabSize());
    m.put("hidden_size", c.hiddenSize());
    m.put("intermediate_size", c.intermediateSize());
    m.put("moe_intermediate_size", c.moeIntermediateSize());
    m.put("num_hidden_layers", c.numHiddenLayers());
    m.put("num_attention_heads", c.numAttentionHeads());
    m.put("num_key_value_heads", c.numAttentionHeads());
    m.put("n_shared_experts", c.nSharedExperts());
    m.put("n_routed_experts", c.nRoutedExperts());
    m.put("routed_scaling_factor", c.routedScalingFactor());
    m.put("kv_lora_rank", c.kvLoraRank());
    m.put("q_lora_rank", c.hasQLora() ? c.qLoraRank() : null);
    m.put("qk_rope_head_dim", c.qkRopeHeadDim());
    m.put("qk_nope_head_dim", c.qkNopeHeadDim());
    m.put("v_head_dim", c.vHeadDim());
    m.put("topk_method", c.topkMethod().name().toLowerCase(java.util.Locale.ROOT));
    m.put("n_group", c.nGroup());
    m.put("topk_group", c.topkGroup());
    m.put("num_experts_per_tok", c.numExpertsPerTok());
    m.put("first_k_dense_replace", c.firstKDenseReplace());
    m.put("moe_layer_freq", c.moeLayerFreq());
    m.put("norm_topk_prob", c.normTopkProb());
    m.put("scoring_func", c.scoringFunc().name().toLowerCase(java.util.Locale.ROOT));
    m.put("hidden_act", "silu");
    m.put("rope_theta", c.ropeTheta());
    RopeScaling rs = c.ropeScaling();
    if (rs == null) {
      m.put("rope_scaling", null);
    } else {
      Map<String, Object> r = new LinkedHashMap<>();
      r.put("type", "yarn");
      r.put("factor", rs.factor());
      r.put("original_max_position_embeddings", rs.originalMaxPositionEmbeddings());
      r.put("beta_fast", rs.betaFast());
      r.put("beta_slow", rs.betaSlow());
      r.put("mscale", rs.mscale());
      r.put("mscale_all_dim", rs.mscaleAllDim());
      m.put("rope_scaling", r);
    }
    m.put("max_position_embeddings", c.maxPositionEmbeddings());
    m.put("rms_norm_eps", c.rmsNormEps());
    m.put("tie_word_embeddings", c.tieWordEmbeddings());
    m.put("attention_bias", false);
    m.put("bos_token_id", c.bosTokenId());
    m.put("eos_token_id", c.eosTokenId());
    m.put("torch_dtype", "bfloat16");
    m.put("num_nextn_predict_layers", c.numNextnPredictLayers());
    QuantizationConfig q = c.quantization();
    if (q != null) {
      Map<String, Object> qc = new LinkedHashMap<>();
      qc.put("quant_method", q.quantMethod());
      qc.put("fmt", q.format());
      qc.put("activation_scheme", "dynamic");
      qc.put("weight_block_size", List.of(q.blockRows(), q.blockCols()));
      m.put("quantization_config", qc);
    }
    Files.createDirectories(dir);
    MAPPER.writeValue(dir.resolve("config.json").toFile(), m);
  }

  private static int required(JsonNode n, String key) {
    JsonNode v = n.get(key);
    if (v == null || !v.isNumber()) {
      throw new IllegalArgumentException("missing or non-numeric key '" + key + "'");
    }
    return v.asInt();
  }

  private static double requiredDouble(JsonNode n, String key) {
    JsonNode v = n.get(key);
    if (v == null || !v.isNumber()) {
      throw new IllegalArgumentException("missing or non-numeric key '" + key + "'");
    }
    return v.asDouble();
  }

  private static int intOr(JsonNode n, String key, int fallback) {
    JsonNode v = n.get(key);
    return v == null || v.isNull() ? fallback : v.asInt();
  }
}
