package io.disaggmoe.cli;

import io.disaggmoe.model.gen.CheckpointGenerator;
import io.disaggmoe.model.gen.Preset;
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
    CheckpointGenerator.generate(p.config(), seed, p.shards(), out);
    System.out.printf(
        "wrote %s checkpoint (seed %d) to %s in %.1f s%n",
        preset, seed, out, (System.nanoTime() - start) / 1e9);
    return 0;
  }
}
