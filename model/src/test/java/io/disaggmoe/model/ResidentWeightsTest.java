package io.disaggmoe.model;

import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.model.config.ModelConfig;
import io.disaggmoe.model.config.QuantizationConfig;
import io.disaggmoe.model.gen.CheckpointGenerator;
import io.disaggmoe.model.gen.Preset;
import io.disaggmoe.model.layer.AttentionMode;
import io.disaggmoe.model.weights.Checkpoint;
import io.disaggmoe.model.weights.DType;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A model holds its checkpoint's bytes: weights in their stored dtype, the norms widened to float32
 * (the only difference on the absorbed path, which holds no native array at all), and {@code kv_b}
 * as a float32 NDArray besides on the naive path alone.
 */
class ResidentWeightsTest {
  @TempDir static Path tmp;

  private static final ModelConfig CONFIG = Preset.TINY.config();
  private static final int BLOCK = 128;
  private static Path dir;
  private static long checkpointBytes;

  @BeforeAll
  static void generate() throws Exception {
    dir = tmp.resolve("bf16");
    CheckpointGenerator.generate(CONFIG, 7, 1, dir);
    try (Checkpoint ckpt = Checkpoint.open(dir, CONFIG.quantization())) {
      checkpointBytes = ckpt.tensorBytes();
    }
  }

  @Test
  void absorbedModelHoldsTheCheckpointPlusItsNormsAsFloat32() throws Exception {
    try (LocalModel model = LocalModel.load(dir, AttentionMode.ABSORB)) {
      assertThat(model.residentWeightBytes() - checkpointBytes)
          .as("resident bytes over the BF16 checkpoint's %d", checkpointBytes)
          .isEqualTo(normElements() * 2L);
      assertThat(model.managedArrayCount())
          .as("native arrays held beside the counted Java ones")
          .isZero();
    }
  }

  @Test
  void naiveModelAlsoHoldsKvBAsFloat32() throws Exception {
    long absorbed;
    try (LocalModel model = LocalModel.load(dir, AttentionMode.ABSORB)) {
      absorbed = model.residentWeightBytes();
    }
    long kvB =
        (long) CONFIG.numHiddenLayers()
            * CONFIG.numAttentionHeads()
            * (CONFIG.qkNopeHeadDim() + CONFIG.vHeadDim())
            * CONFIG.kvLoraRank()
            * Float.BYTES;
    try (LocalModel model = LocalModel.load(dir, AttentionMode.NAIVE)) {
      assertThat(model.residentWeightBytes() - absorbed)
          .as("what the naive path holds more: kv_b in float32")
          .isEqualTo(kvB);
      assertThat(model.managedArrayCount())
          .as("native arrays: one kv_b a layer")
          .isEqualTo(CONFIG.numHiddenLayers());
    }
  }

  @Test
  void f16ModelHoldsItsCheckpointPlusItsNormsAsFloat32() throws Exception {
    Path f16 = tmp.resolve("f16");
    CheckpointGenerator.generate(CONFIG, 7, 1, f16, DType.F16);
    try (Checkpoint ckpt = Checkpoint.open(f16, CONFIG.quantization());
        LocalModel model = LocalModel.load(f16, AttentionMode.ABSORB)) {
      assertThat(model.residentWeightBytes() - ckpt.tensorBytes())
          .as("resident bytes over the F16 checkpoint's (kv_b's halves stay F16)")
          .isEqualTo(normElements() * 2L);
    }
  }

  @Test
  void fp8ModelKeepsKvBsHalvesInFp8() throws Exception {
    ModelConfig config =
        CONFIG.withQuantization(new QuantizationConfig("fp8", "e4m3", BLOCK, BLOCK));
    Path fp8 = tmp.resolve("fp8");
    CheckpointGenerator.generate(config, 7, 1, fp8);
    long checkpoint;
    try (Checkpoint ckpt = Checkpoint.open(fp8, config.quantization())) {
      checkpoint = ckpt.tensorBytes();
    }
    // Each head's halves (W_UK transposed, W_UV) carry one scale per block of 128 of their rank
    // columns; kv_b itself one per 128 x 128 block.
    int per = CONFIG.qkNopeHeadDim() + CONFIG.vHeadDim();
    long rankBlocks = blocks(CONFIG.kvLoraRank());
    long scales =
        (2L * CONFIG.numAttentionHeads() * rankBlocks
                - blocks(CONFIG.numAttentionHeads() * per) * rankBlocks)
            * CONFIG.numHiddenLayers();
    try (LocalModel model = LocalModel.load(fp8, AttentionMode.ABSORB)) {
      assertThat(model.residentWeightBytes() - checkpoint)
          .as(
              "resident bytes over the FP8 checkpoint's %d (kv_b in float32 would be 4x)",
              checkpoint)
          .isEqualTo(normElements() * 2L + scales * Float.BYTES);
    }
  }

  private static long blocks(int n) {
    return (n + BLOCK - 1) / BLOCK;
  }

  /** Elements of every RMSNorm weight: two per layer, the query's and the latent's, the final. */
  private static long normElements() {
    long perLayer =
        2L * CONFIG.hiddenSize()
            + CONFIG.kvLoraRank()
            + (CONFIG.hasQLora() ? CONFIG.qLoraRank() : 0);
    return perLayer * CONFIG.numHiddenLayers() + CONFIG.hiddenSize();
  }
}
