package io.disaggmoe.cli;

import io.disaggmoe.model.config.ModelConfig;
import io.disaggmoe.model.config.QuantizationConfig;
import io.disaggmoe.model.gen.CheckpointGenerator;
import io.disaggmoe.model.gen.Preset;
import io.disaggmoe.model.weights.DType;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code disaggmoe gen-model}: writes a seeded random checkpoint of the real architecture. */
@Command(
    name = "gen-model",
    mixinStandardHelpOptions = true,
    description =
        "Write an HF-format checkpoint (config.json, safetensors) with seeded random weights.")
final class GenModelCommand implements Callable<Integer> {
  @Option(
      names = "--preset",
      defaultValue = "tiny",
      description = "tiny or bench (default ${DEFAULT-VALUE})")
  String preset;

  @Option(
      names = "--seed",
      defaultValue = "0",
      description = "random seed (default ${DEFAULT-VALUE})")
  long seed;

  @Option(names = "--out", required = true, description = "output directory")
  Path out;

  @Option(
      names = "--fp8",
      description =
          "attention and MLP projections as F8_E4M3 with 128x128 block scales"
              + " (weight_scale_inv), as DeepSeek-V3's checkpoint; default BF16")
  boolean fp8;

  @Option(
      names = "--f16",
      description =
          "the tensors otherwise BF16 (with --fp8, all but the projections) as F16; default BF16")
  boolean f16;

  @Override
  public Integer call() throws Exception {
    Preset p;
    try {
      p = Preset.parse(preset);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "unknown preset '" + preset + "' (expected tiny or bench)");
    }
    long start = System.nanoTime();
    ModelConfig config =
        fp8
            ? p.config().withQuantization(new QuantizationConfig("fp8", "e4m3", 128, 128))
            : p.config();
    CheckpointGenerator.generate(config, seed, p.shards(), out, f16 ? DType.F16 : DType.BF16);
    System.out.printf(
        "wrote %s%s%s checkpoint (seed %d) to %s in %.1f s%n",
        preset, fp8 ? " FP8" : "", f16 ? " F16" : "", seed, out, (System.nanoTime() - start) / 1e9);
    return 0;
  }
}
