package io.disaggmoe.cli;

import io.disaggmoe.model.LocalModel;
import io.disaggmoe.model.layer.AttentionMode;
import io.disaggmoe.model.weights.Checkpoint;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;
import picocli.CommandLine.Option;

/**
 * {@code --model DIR} and {@code --attn absorb|naive}, shared by every command that runs a model.
 */
final class ModelOptions {
  @Option(names = "--model", required = true, description = "checkpoint directory")
  Path model;

  @Option(
      names = "--attn",
      defaultValue = "absorb",
      description = "absorb or naive (default ${DEFAULT-VALUE})")
  String attn;

  AttentionMode mode() {
    return switch (attn.toLowerCase(Locale.ROOT)) {
      case "absorb" -> AttentionMode.ABSORB;
      case "naive" -> AttentionMode.NAIVE;
      default ->
          throw new IllegalArgumentException("--attn must be absorb or naive, got '" + attn + "'");
    };
  }

  /** Bytes of every tensor in the checkpoint's safetensors files, as stored. */
  long checkpointBytes() {
    try (Checkpoint c = Checkpoint.open(model, null)) {
      return c.tensorBytes();
    }
  }

  /** The whole model, routed experts in this process. */
  LocalModel loadLocal() throws IOException {
    LocalModel m = LocalModel.load(model, mode());
    ServingHeap.afterLoading();
    return m;
  }
}
