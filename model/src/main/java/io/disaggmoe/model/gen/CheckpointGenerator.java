package io.disaggmoe.model.gen;

import io.disaggmoe.model.config.ModelConfig;
import io.disaggmoe.model.config.ModelConfigJson;
import io.disaggmoe.model.config.QuantizationConfig;
import io.disaggmoe.model.text.TokenizerFiles;
import io.disaggmoe.model.weights.DType;
import io.disaggmoe.model.weights.SafetensorsWriter;
import io.disaggmoe.model.weights.SafetensorsWriter.PendingTensor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Supplier;
import tools.jackson.databind.json.JsonMapper;

/**
 * Writes an HF-format checkpoint of the DeepSeek-V3 architecture with seeded random weights.
 *
 * <p>Weights are BF16 as in the real checkpoint (the gate bias F32), or F16 where asked. Each
 * tensor draws from its own generator, seeded by the seed and the tensor's name, so output does not
 * depend on write order. Scales follow the golden models' init (unit embeddings, {@code
 * 1/sqrt(fan_in)} projections, halved on the residual outputs) so activations stay in range through
 * every layer.
 */
public final class CheckpointGenerator {
  private CheckpointGenerator() {}

  /**
   * Writes {@code config.json}, the safetensors file(s) of {@code config} and the real DeepSeek-V3
   * tokenizer files into {@code out}.
   */
  public static void generate(ModelConfig config, long seed, int shards, Path out)
      throws IOException {
    generate(config, seed, shards, out, DType.BF16);
  }

  /**
   * The same with the tensors otherwise held as BF16 (all but the gate bias, and the FP8
   * projections of a quantized {@code config}) held as {@code half}: BF16 or F16, each value
   * rounded to nearest from the same float32 draw.
   */
  public static void generate(ModelConfig config, long seed, int shards, Path out, DType half)
      throws IOException {
    if (half != DType.BF16 && half != DType.F16) {
      throw new IllegalArgumentException(half + " is not a 16-bit float dtype");
    }
    Files.createDirectories(out);
    ModelConfigJson.write(config, out);
    TokenizerFiles.copyDeepSeekV3(out);
    List<List<PendingTensor>> files = split(tensors(config, seed, half), shards);
    if (files.size() == 1) {
      SafetensorsWriter.write(out.resolve("model.safetensors"), files.get(0));
      return;
    }
    Map<String, String> weightMap = new LinkedHashMap<>();
    for (int i = 0; i < files.size(); i++) {
      String name = String.format("model-%05d-of-%05d.safetensors", i + 1, files.size());
      SafetensorsWriter.write(out.resolve(name), files.get(i));
      files.get(i).forEach(t -> weightMap.put(t.name(), name));
    }
    JsonMapper.builder()
        .build()
        .writeValue(
            out.resolve("model.safetensors.index.json").toFile(),
            Map.of("metadata", Map.of(), "weight_map", weightMap));
  }

  private static List<List<PendingTensor>> split(List<PendingTensor> all, int shards) {
    List<List<PendingTensor>> files = new ArrayList<>();
    int per = (all.size() + shards - 1) / shards;
    for (int i = 0; i < all.size(); i += per) {
      files.add(all.subList(i, Math.min(all.size(), i + per)));
    }
    return files;
  }

  /** Every tensor of the model, in HF naming and order. */
  static List<PendingTensor> tensors(ModelConfig c, long seed, DType half) {
    List<PendingTensor> t = new ArrayList<>();
    int d = c.hiddenSize();
    t.add(gaussian(half, "model.embed_tokens.weight", seed, 1.0, c.vocabSize(), d));
    for (int i = 0; i < c.numHiddenLayers(); i++) {
      String p = "model.layers." + i + ".";
      t.add(norm(half, p + "input_layernorm.weight", seed, d));
      String a = p + "self_attn.";
      int qOut = c.numAttentionHeads() * c.qkHeadDim();
      QuantizationConfig q = c.quantization();
      if (c.hasQLora()) {
        t.addAll(projection(half, q, a + "q_a_proj.weight", seed, c.qLoraRank(), d, 1));
        t.add(norm(half, a + "q_a_layernorm.weight", seed, c.qLoraRank()));
        t.addAll(projection(half, q, a + "q_b_proj.weight", seed, qOut, c.qLoraRank(), 1));
      } else {
        t.addAll(projection(half, q, a + "q_proj.weight", seed, qOut, d, 1));
      }
      t.addAll(projection(half, q, a + "kv_a_proj_with_mqa.weight", seed, c.latentDim(), d, 1));
      t.add(norm(half, a + "kv_a_layernorm.weight", seed, c.kvLoraRank()));
      int kvOut = c.numAttentionHeads() * (c.qkNopeHeadDim() + c.vHeadDim());
      t.addAll(projection(half, q, a + "kv_b_proj.weight", seed, kvOut, c.kvLoraRank(), 1));
      int vOut = c.numAttentionHeads() * c.vHeadDim();
      t.addAll(projection(half, q, a + "o_proj.weight", seed, d, vOut, 0.5));
      t.add(norm(half, p + "post_attention_layernorm.weight", seed, d));
      String m = p + "mlp.";
      if (!c.isMoeLayer(i)) {
        mlp(t, half, q, m, seed, d, c.intermediateSize());
        continue;
      }
      t.add(gaussian(half, m + "gate.weight", seed, 1 / Math.sqrt(d), c.nRoutedExperts(), d));
      t.add(
          new PendingTensor(
              m + "gate.e_score_correction_bias",
              DType.F32,
              new long[] {c.nRoutedExperts()},
              b -> {
                SplittableRandom r = random(seed, m + "gate.e_score_correction_bias");
                for (int e = 0; e < c.nRoutedExperts(); e++) {
                  b.putFloat((float) (0.1 * r.nextGaussian()));
                }
              }));
      for (int e = 0; e < c.nRoutedExperts(); e++) {
        mlp(t, half, q, m + "experts." + e + ".", seed, d, c.moeIntermediateSize());
      }
      if (c.nSharedExperts() > 0) {
        int shared = c.nSharedExperts() * c.moeIntermediateSize();
        mlp(t, half, q, m + "shared_experts.", seed, d, shared);
      }
    }
    t.add(norm(half, "model.norm.weight", seed, d));
    t.add(gaussian(half, "lm_head.weight", seed, 1.5 / Math.sqrt(d), c.vocabSize(), d));
    return t;
  }

  private static void mlp(
      List<PendingTensor> t,
      DType half,
      QuantizationConfig q,
      String p,
      long seed,
      int d,
      int inter) {
    t.addAll(projection(half, q, p + "gate_proj.weight", seed, inter, d, 1));
    t.addAll(projection(half, q, p + "up_proj.weight", seed, inter, d, 1));
    t.addAll(projection(half, q, p + "down_proj.weight", seed, d, inter, 0.5));
  }

  /**
   * A linear layer's weight: {@code half}, or with {@code q} F8_E4M3 and its {@code
   * weight_scale_inv}, as DeepSeek-V3's checkpoint holds every attention and MLP projection.
   */
  private static List<PendingTensor> projection(
      DType half, QuantizationConfig q, String name, long seed, int out, int in, double gain) {
    double std = gain / Math.sqrt(in);
    if (q == null) {
      return List.of(gaussian(half, name, seed, std, out, in));
    }
    int br = q.blockRows();
    int bc = q.blockCols();
    long[] scaleShape = {(out + br - 1) / br, (in + bc - 1) / bc};
    Quantized blocks =
        new Quantized(() -> Fp8Blocks.of(values(name, seed, std, out * in), out, in, br, bc));
    return List.of(
        new PendingTensor(
            name, DType.F8_E4M3, new long[] {out, in}, b -> b.put(blocks.take().bytes())),
        new PendingTensor(
            name + "_scale_inv",
            DType.F32,
            scaleShape,
            b -> {
              for (float v : blocks.take().scales()) {
                b.putFloat(v);
              }
            }));
  }

  /**
   * One projection's blocks, quantized once for its two tensors (the weight and its scales) and let
   * go once both have taken them, so a checkpoint's writing holds one projection at a time.
   */
  private static final class Quantized {
    private final Supplier<Fp8Blocks> make;
    private Fp8Blocks blocks;
    private int taken;

    Quantized(Supplier<Fp8Blocks> make) {
      this.make = make;
    }

    synchronized Fp8Blocks take() {
      Fp8Blocks b = blocks != null ? blocks : make.get();
      blocks = ++taken < 2 ? b : null;
      return b;
    }
  }

  /** The same draws as {@link #gaussian}'s, before rounding. */
  private static float[] values(String name, long seed, double std, int count) {
    SplittableRandom r = random(seed, name);
    float[] v = new float[count];
    for (int i = 0; i < count; i++) {
      v[i] = (float) (std * r.nextGaussian());
    }
    return v;
  }

  private static PendingTensor gaussian(
      DType half, String name, long seed, double std, long... shape) {
    return new PendingTensor(
        name,
        half,
        shape,
        b -> {
          SplittableRandom r = random(seed, name);
          fill(half, b, () -> std * r.nextGaussian());
        });
  }

  private static PendingTensor norm(DType half, String name, long seed, int dim) {
    return new PendingTensor(
        name,
        half,
        new long[] {dim},
        b -> {
          SplittableRandom r = random(seed, name);
          fill(half, b, () -> 1 + 0.1 * r.nextGaussian());
        });
  }

  private static void fill(DType half, ByteBuffer b, java.util.function.DoubleSupplier values) {
    while (b.remaining() >= 2) {
      float v = (float) values.getAsDouble();
      b.putShort(half == DType.F16 ? Float.floatToFloat16(v) : toBf16(v));
    }
  }

  /** Float32 to BF16, rounding to nearest even as torch does. */
  static short toBf16(float v) {
    int bits = Float.floatToRawIntBits(v);
    int rounding = 0x7FFF + ((bits >>> 16) & 1);
    return (short) ((bits + rounding) >>> 16);
  }

  private static SplittableRandom random(long seed, String name) {
    return new SplittableRandom(seed * 0x9E3779B97F4A7C15L ^ name.hashCode());
  }
}
