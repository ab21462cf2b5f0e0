package io.disaggmoe.cli;

import io.disaggmoe.model.GreedyForward;
import io.disaggmoe.model.LocalModel;
import io.disaggmoe.model.gen.CheckpointGenerator;
import io.disaggmoe.model.gen.Preset;
import io.disaggmoe.model.layer.AttentionMode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code disaggmoe up}: the main job. Until the services exist it prepares the embedded default
 * model (the {@code tiny} preset, generated once under {@code models/tiny}) and runs it.
 */
@Command(
    name = "up",
    mixinStandardHelpOptions = true,
    description = "Generate the embedded default model if needed and run it (services come later).")
final class UpCommand implements Callable<Integer> {
  @Option(
      names = "--model",
      description = "checkpoint directory (default: the embedded tiny model)")
  Path model;

  @Option(
      names = "--decode",
      defaultValue = "16",
      description = "greedy decode steps (default ${DEFAULT-VALUE})")
  int decode;

  @Override
  public Integer call() throws Exception {
    Path dir = model != null ? model : defaultModelDir();
    if (model == null && !Files.isRegularFile(dir.resolve("config.json"))) {
      System.out.println("generating the embedded default model (preset tiny, seed 0) in " + dir);
      CheckpointGenerator.generate(Preset.TINY.config(), 0, Preset.TINY.shards(), dir);
    }
    long start = System.nanoTime();
    try (LocalModel m = LocalModel.load(dir, AttentionMode.ABSORB)) {
      double loadSeconds = (System.nanoTime() - start) / 1e9;
      int[] prompt = {m.config().bosTokenId(), 100, 2000, 30000, 400};
      start = System.nanoTime();
      GreedyForward r = GreedyForward.run(m, prompt, decode);
      double runSeconds = (System.nanoTime() - start) / 1e9;
      System.out.printf("model %s loaded in %.1f s%n", dir, loadSeconds);
      System.out.printf(
          "prompt ids %s -> greedy ids %s (%d tokens in %.2f s)%n",
          Arrays.toString(prompt), Arrays.toString(r.greedyIds()), decode + 1, runSeconds);
    }
    return 0;
  }

  static Path defaultModelDir() {
    String home = System.getProperty("disaggmoe.home", ".");
    return Path.of(home, "models", "tiny");
  }
}
