package io.disaggmoe.model.gen;

import static io.disaggmoe.model.testing.TensorAssert.assertClose;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.disaggmoe.model.GreedyForward;
import io.disaggmoe.model.LocalModel;
import io.disaggmoe.model.config.ModelConfig;
import io.disaggmoe.model.config.ModelConfigJson;
import io.disaggmoe.model.config.QuantizationConfig;
import io.disaggmoe.model.kernel.Kernel;
import io.disaggmoe.model.kernel.MatMul;
import io.disaggmoe.model.kernel.WeightMatrix;
import io.disaggmoe.model.layer.AttentionMode;
import io.disaggmoe.model.weights.Checkpoint;
import io.disaggmoe.model.weights.DType;
import io.disaggmoe.model.weights.Fp8E4m3;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointGeneratorTest {
  @TempDir Path tmp;

  @Test
  void tinyPresetLoadsRunsAndIsDeterministic() throws Exception {
    Path a = tmp.resolve("a");
    Path b = tmp.resolve("b");
    CheckpointGenerator.generate(Preset.TINY.config(), 3, 1, a);
    CheckpointGenerator.generate(Preset.TINY.config(), 3, 1, b);
    assertThat(Files.mismatch(a.resolve("model.safetensors"), b.resolve("model.safetensors")))
        .as("same seed, same bytes")
        .isEqualTo(-1);
    assertThat(ModelConfigJson.read(a)).isEqualTo(Preset.TINY.config());
    assertThat(a.resolve("tokenizer.json")).as("the real tokenizer ships with it").isRegularFile();
    assertThat(a.resolve("tokenizer_config.json")).isRegularFile();
    try (Checkpoint ckpt = Checkpoint.open(a, Preset.TINY.config().quantization())) {
      assertThat(ckpt.matrixDtypes()).containsExactly(DType.BF16);
    }

    try (LocalModel model = LocalModel.load(a, AttentionMode.ABSORB)) {
      GreedyForward r = GreedyForward.run(model, new int[] {0, 100, 2000, 30000}, 40);
      for (float v : r.prefillLogits()) {
        assertThat(Math.abs(v)).as("prefill logits stay finite and in range").isLessThan(100f);
      }
      for (float v : r.decodeLogits()) {
        assertThat(Math.abs(v)).as("decode logits stay finite and in range").isLessThan(100f);
      }
    }
  }

  @Test
  void shardedCheckpointWithIndexEqualsSingleFile() throws Exception {
    Path single = tmp.resolve("single");
    Path sharded = tmp.resolve("sharded");
    CheckpointGenerator.generate(Preset.TINY.config(), 5, 1, single);
    CheckpointGenerator.generate(Preset.TINY.config(), 5, 3, sharded);
    assertThat(sharded.resolve("model.safetensors.index.json")).exists();
    assertThat(sharded.resolve("model-00003-of-00003.safetensors")).exists();
    int[] prompt = {0, 7, 8, 9};
    try (LocalModel one = LocalModel.load(single, AttentionMode.ABSORB);
        LocalModel three = LocalModel.load(sharded, AttentionMode.NAIVE)) {
      GreedyForward x = GreedyForward.run(one, prompt, 3);
      GreedyForward y = GreedyForward.run(three, prompt, 3);
      assertClose("sharded vs single prefill", x.prefillLogits(), y.prefillLogits(), 129280, 1e-4);
      assertThat(y.greedyIds()).containsExactly(x.greedyIds());
    }
  }

  @Test
  void fp8CheckpointQuantizesEveryProjectionAndRunsBothAttentionPaths() throws Exception {
    Path dir = tmp.resolve("fp8");
    ModelConfig config =
        Preset.TINY.config().withQuantization(new QuantizationConfig("fp8", "e4m3", 128, 128));
    CheckpointGenerator.generate(config, 3, 1, dir);
    assertThat(ModelConfigJson.read(dir)).isEqualTo(config);
    try (Checkpoint ckpt = Checkpoint.open(dir, config.quantization())) {
      WeightMatrix down = ckpt.weight("model.layers.1.mlp.experts.0.down_proj.weight", 128, 64);
      assertThat(down.dtype()).isEqualTo(DType.F8_E4M3);
      WeightMatrix head = ckpt.weight("lm_head.weight", 129280, 128);
      assertThat(head.dtype())
          .as("the LM head stays BF16, as in DeepSeek-V3")
          .isEqualTo(DType.BF16);
      assertThat(ckpt.matrixDtypes())
          .as("the kernels a model of it warms up (the block scales' F32 aside)")
          .containsExactlyInAnyOrder(DType.F8_E4M3, DType.BF16);
    }
    int[] prompt = {0, 100, 2000, 30000};
    try (LocalModel absorb = LocalModel.load(dir, AttentionMode.ABSORB);
        LocalModel naive = LocalModel.load(dir, AttentionMode.NAIVE)) {
      GreedyForward a = GreedyForward.run(absorb, prompt, 8);
      GreedyForward n = GreedyForward.run(naive, prompt, 8);
      assertClose(
          "FP8 absorbed vs naive prefill", a.prefillLogits(), n.prefillLogits(), 129280, 1e-4);
      assertThat(a.greedyIds()).containsExactly(n.greedyIds());
    }
  }

  @Test
  void f16CheckpointRunsOnItsKernelAsOnTheScalarOne() throws Exception {
    Path dir = tmp.resolve("f16");
    CheckpointGenerator.generate(Preset.TINY.config(), 3, 1, dir, DType.F16);
    try (Checkpoint ckpt = Checkpoint.open(dir, null)) {
      assertThat(ckpt.weight("model.layers.1.mlp.experts.0.down_proj.weight", 128, 64).dtype())
          .isEqualTo(DType.F16);
      assertThat(ckpt.weight("lm_head.weight", 129280, 128).dtype()).isEqualTo(DType.F16);
    }
    int[] prompt = {0, 100, 2000, 30000};
    try (LocalModel model = LocalModel.load(dir, AttentionMode.ABSORB)) {
      GreedyForward vector = GreedyForward.run(model, prompt, 8);
      GreedyForward scalar;
      MatMul.override(Kernel.SCALAR);
      try {
        scalar = GreedyForward.run(model, prompt, 8);
      } finally {
        MatMul.override(null);
      }
      assertClose(
          "F16 kernel vs scalar prefill",
          vector.prefillLogits(),
          scalar.prefillLogits(),
          129280,
          1e-4);
      assertThat(vector.greedyIds()).containsExactly(scalar.greedyIds());
    }
  }

  @Test
  void fp8BlocksKeepEachWeightWithinHalfAnE4m3Step() {
    float[] v = new float[200 * 300];
    java.util.SplittableRandom r = new java.util.SplittableRandom(9);
    for (int i = 0; i < v.length; i++) {
      v[i] = (float) (r.nextGaussian() * (i % 7 + 1));
    }
    Fp8Blocks q = Fp8Blocks.of(v, 200, 300, 128, 128);
    assertThat(q.scales()).hasSize(2 * 3);
    for (int i = 0; i < v.length; i++) {
      int row = i / 300;
      int col = i % 300;
      float scale = q.scales()[(row / 128) * 3 + col / 128];
      float back = Fp8E4m3.toFloat(q.bytes()[i]) * scale;
      // E4M3 keeps 3 mantissa bits: a normal value is within 2^-4 of itself; below 2^-6 (times the
      // scale) the step is 2^-9.
      assertThat(back)
          .as("weight %d (row %d, column %d)", i, row, col)
          .isCloseTo(v[i], within(Math.max(Math.abs(v[i]) / 16, scale * 0x1p-10f) * 1.0001f));
    }
  }

  @Test
  void bf16RoundsToNearestEven() {
    assertThat(CheckpointGenerator.toBf16(1.0f)).isEqualTo((short) 0x3F80);
    // 1 + 2^-8 is halfway between two BF16 values: ties go to the even mantissa (1.0).
    assertThat(CheckpointGenerator.toBf16(1.00390625f)).isEqualTo((short) 0x3F80);
    assertThat(CheckpointGenerator.toBf16(1.01171875f)).isEqualTo((short) 0x3F82);
  }
}
