package io.disaggmoe.model.gen;

import static io.disaggmoe.model.testing.TensorAssert.assertClose;
import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.model.GreedyForward;
import io.disaggmoe.model.LocalModel;
import io.disaggmoe.model.config.ModelConfigJson;
import io.disaggmoe.model.layer.AttentionMode;
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
  void bf16RoundsToNearestEven() {
    assertThat(CheckpointGenerator.toBf16(1.0f)).isEqualTo((short) 0x3F80);
    // 1 + 2^-8 is halfway between two BF16 values: ties go to the even mantissa (1.0).
    assertThat(CheckpointGenerator.toBf16(1.00390625f)).isEqualTo((short) 0x3F80);
    assertThat(CheckpointGenerator.toBf16(1.01171875f)).isEqualTo((short) 0x3F82);
  }
}
