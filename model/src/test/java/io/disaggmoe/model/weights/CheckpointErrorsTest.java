package io.disaggmoe.model.weights;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.disaggmoe.model.LocalModel;
import io.disaggmoe.model.layer.AttentionMode;
import io.disaggmoe.model.testing.CheckpointRewriter;
import io.disaggmoe.model.testing.GoldenCase;
import io.disaggmoe.model.weights.SafetensorsWriter.PendingTensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each way a checkpoint can be broken gives an exception naming the file, tensor and cause. */
class CheckpointErrorsTest {
  @TempDir Path tmp;

  private Path copyOfTinyModel() throws Exception {
    Path src = GoldenCase.named("v3-tiny").dir();
    Path dir = Files.createDirectories(tmp.resolve("model"));
    Files.copy(src.resolve("config.json"), dir.resolve("config.json"));
    Files.copy(src.resolve("model.safetensors"), dir.resolve("model.safetensors"));
    return dir;
  }

  /** The tiny model's safetensors file after {@code edit} changed its raw bytes. */
  private Path corruptedTinyModelFile(UnaryOperator<byte[]> edit) throws Exception {
    Path file = copyOfTinyModel().resolve("model.safetensors");
    Files.write(file, edit.apply(Files.readAllBytes(file)));
    return file;
  }

  /**
   * Replaces the byte at {@code offset} past the first occurrence of {@code text} in the header.
   */
  private static UnaryOperator<byte[]> patchAfter(String text, int offset, char replacement) {
    return bytes -> {
      int at = new String(bytes, StandardCharsets.ISO_8859_1).indexOf(text);
      bytes[at + offset] = (byte) replacement;
      return bytes;
    };
  }

  /** Rewrites the tiny model's tensors through {@code edit}, keeping the rest as they were. */
  private Path rewrittenTinyModel(Consumer<List<PendingTensor>> edit) throws Exception {
    return CheckpointRewriter.rewrite(
        GoldenCase.named("v3-tiny").dir(), tmp.resolve("model"), edit);
  }

  @Test
  void truncatedFileNamesTheTensorItCuts() throws Exception {
    Path file = corruptedTinyModelFile(b -> Arrays.copyOf(b, b.length - 1000));
    assertThatThrownBy(() -> LocalModel.load(file.getParent(), AttentionMode.ABSORB))
        .isInstanceOf(CheckpointException.class)
        .hasMessageContaining(file.toString())
        .hasMessageContaining("tensor 'lm_head.weight'")
        .hasMessageContaining("file truncated");
  }

  @Test
  void fileShorterThanItsHeaderIsTruncated() throws Exception {
    Path file = corruptedTinyModelFile(b -> Arrays.copyOf(b, 100));
    assertThatThrownBy(() -> Checkpoint.open(file.getParent(), null))
        .hasMessageContaining(file.toString())
        .hasMessageContaining("truncated: header says");
  }

  @Test
  void corruptHeaderIsNamed() throws Exception {
    Path file = corruptedTinyModelFile(patchAfter("{", 0, '['));
    assertThatThrownBy(() -> Checkpoint.open(file.getParent(), null))
        .hasMessageContaining(file.toString())
        .hasMessageContaining("header is not valid JSON");
  }

  @Test
  void implausibleHeaderLengthIsCorrupt() throws Exception {
    Path file =
        corruptedTinyModelFile(
            b -> ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(0, -5).array());
    assertThatThrownBy(() -> Checkpoint.open(file.getParent(), null))
        .hasMessageContaining(file.toString())
        .hasMessageContaining("header length -5");
  }

  @Test
  void missingTensorIsNamed() throws Exception {
    Path dir =
        rewrittenTinyModel(
            t -> t.removeIf(p -> p.name().equals("model.layers.2.self_attn.kv_b_proj.weight")));
    assertThatThrownBy(() -> LocalModel.load(dir, AttentionMode.ABSORB))
        .isInstanceOf(CheckpointException.class)
        .hasMessageContaining("tensor 'model.layers.2.self_attn.kv_b_proj.weight' not found")
        .hasMessageContaining("model.safetensors");
  }

  @Test
  void wrongShapeNamesExpectedAndFound() throws Exception {
    Path dir =
        rewrittenTinyModel(
            t -> {
              t.removeIf(p -> p.name().equals("model.norm.weight"));
              t.add(PendingTensor.f32("model.norm.weight", new long[] {63}, new float[63]));
            });
    assertThatThrownBy(() -> LocalModel.load(dir, AttentionMode.ABSORB))
        .isInstanceOf(CheckpointException.class)
        .hasMessageContaining("tensor 'model.norm.weight'")
        .hasMessageContaining("expected shape [64] but found [63]");
  }

  @Test
  void headerSizeDisagreeingWithShapeIsCorrupt() throws Exception {
    // Same length, different shape: [64] -> [65] for the first tensor that has it.
    Path file = corruptedTinyModelFile(patchAfter("\"shape\":[64]", 10, '5'));
    assertThatThrownBy(() -> Checkpoint.open(file.getParent(), null))
        .hasMessageContaining(file.toString())
        .hasMessageContaining("F32 [65] needs 260 bytes but data_offsets span 256");
  }

  @Test
  void unsupportedDtypeIsNamed() throws Exception {
    Path file = corruptedTinyModelFile(patchAfter("\"F32\"", 1, 'C'));
    assertThatThrownBy(() -> Checkpoint.open(file.getParent(), null))
        .hasMessageContaining(file.toString())
        .hasMessageContaining("dtype 'C32' is not supported");
  }

  @Test
  void fp8WeightWithoutScaleIsNamed() throws Exception {
    Path dir =
        CheckpointRewriter.rewrite(
            GoldenCase.named("v3-fp8").dir(),
            tmp.resolve("fp8"),
            t ->
                t.removeIf(
                    p -> p.name().equals("model.layers.0.self_attn.o_proj.weight_scale_inv")));
    assertThatThrownBy(() -> LocalModel.load(dir, AttentionMode.ABSORB))
        .hasMessageContaining("tensor 'model.layers.0.self_attn.o_proj.weight'")
        .hasMessageContaining(
            "without its block scale 'model.layers.0.self_attn.o_proj.weight_scale_inv'");
  }

  @Test
  void indexNamingAMissingShardIsNamed() throws Exception {
    Path dir = copyOfTinyModel();
    Files.writeString(
        dir.resolve("model.safetensors.index.json"),
        "{\"weight_map\": {\"lm_head.weight\": \"model-00002-of-00002.safetensors\"}}");
    assertThatThrownBy(() -> Checkpoint.open(dir, null))
        .hasMessageContaining("model.safetensors.index.json")
        .hasMessageContaining("names shard 'model-00002-of-00002.safetensors' which is missing");
  }

  @Test
  void unusedTensorsSuchAsMtpLayersAreSkipped() throws Exception {
    Path dir =
        rewrittenTinyModel(
            t ->
                t.add(
                    PendingTensor.f32(
                        "model.layers.4.eh_proj.weight",
                        new long[] {64, 128},
                        new float[64 * 128])));
    try (LocalModel model = LocalModel.load(dir, AttentionMode.ABSORB)) {
      assertThat(model.config().numHiddenLayers()).isEqualTo(4);
    }
  }
}
