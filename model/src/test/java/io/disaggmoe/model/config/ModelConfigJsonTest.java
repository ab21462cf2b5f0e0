package io.disaggmoe.model.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.disaggmoe.model.testing.GoldenCase;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelConfigJsonTest {
  @TempDir Path tmp;

  @Test
  void readsV2KeysWithNullQLoraAndSoftmaxGreedyRouting() throws Exception {
    ModelConfig c = ModelConfigJson.read(GoldenCase.named("v2-lite-style").dir());
    assertThat(c.hasQLora()).isFalse();
    assertThat(c.scoringFunc()).isEqualTo(ScoringFunction.SOFTMAX);
    assertThat(c.topkMethod()).isEqualTo(TopkMethod.GREEDY);
    assertThat(c.normTopkProb()).isFalse();
    assertThat(c.firstKDenseReplace()).isEqualTo(2);
    assertThat(c.isMoeLayer(1)).isFalse();
    assertThat(c.isMoeLayer(2)).isTrue();
  }

  @Test
  void readsYarnAndItsSoftmaxScale() throws Exception {
    ModelConfig c = ModelConfigJson.read(GoldenCase.named("v3-yarn").dir());
    assertThat(c.ropeScaling().factor()).isEqualTo(4.0);
    assertThat(c.ropeScaling().originalMaxPositionEmbeddings()).isEqualTo(16);
    assertThat(c.yarnActive()).isTrue();
    double m = 0.1 * c.ropeScaling().mscaleAllDim() * Math.log(4.0) + 1;
    assertThat(c.softmaxScale())
        .isCloseTo(m * m / Math.sqrt(24), org.assertj.core.data.Offset.offset(1e-12));
  }

  @Test
  void readsFp8QuantizationBlocks() throws Exception {
    ModelConfig c = ModelConfigJson.read(GoldenCase.named("v3-fp8").dir());
    assertThat(c.quantization()).isEqualTo(new QuantizationConfig("fp8", "e4m3", 16, 16));
  }

  @Test
  void writtenConfigReadsBackEqual() throws Exception {
    ModelConfig c = ModelConfigJson.read(GoldenCase.named("v3-yarn").dir());
    ModelConfigJson.write(c, tmp);
    assertThat(ModelConfigJson.read(tmp)).isEqualTo(c);
  }

  @Test
  void missingRequiredKeyNamesFileAndKey() throws Exception {
    Files.writeString(
        tmp.resolve("config.json"), "{\"model_type\": \"deepseek_v3\", \"vocab_size\": 10}");
    assertThatThrownBy(() -> ModelConfigJson.read(tmp))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("config.json")
        .hasMessageContaining("missing or non-numeric key 'num_hidden_layers'");
  }

  @Test
  void unsupportedRopeScalingAndQuantizationAreRefused() throws Exception {
    String base = Files.readString(GoldenCase.named("v3-tiny").dir().resolve("config.json"));
    Files.writeString(
        tmp.resolve("config.json"),
        base.replace(
            "\"rope_scaling\": null", "\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2}"));
    assertThatThrownBy(() -> ModelConfigJson.read(tmp))
        .hasMessageContaining("rope_scaling type 'linear' is not supported");
  }
}
