package io.disaggmoe.cli;

import io.disaggmoe.model.LocalGenerator;
import io.disaggmoe.model.LocalModel;
import io.disaggmoe.model.gen.CheckpointGenerator;
import io.disaggmoe.model.gen.Preset;
import io.disaggmoe.model.layer.AttentionMode;
import io.disaggmoe.model.sampling.SamplingParams;
import io.disaggmoe.model.text.TextTokenizer;
import io.disaggmoe.model.text.TokenizerFiles;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code disaggmoe up}: the main job. Until the services exist it prepares the embedded default
 * model (the {@code tiny} preset, generated once under {@code models/tiny}) and chats with it.
 */
@Command(
    name = "up",
    mixinStandardHelpOptions = true,
    description = "Generate the embedded default model if needed and run it (services come later).")
final class UpCommand implements Callable<Integer> {
  private static final String PROMPT = "Hello! Who are you?";

  @Option(
      names = "--model",
      description = "checkpoint directory (default: the embedded tiny model)")
  Path model;

  @Option(
      names = "--decode",
      defaultValue = "16",
      description = "greedy tokens to generate (default ${DEFAULT-VALUE})")
  int decode;

  @Override
  public Integer call() throws Exception {
    Path dir = model != null ? model : defaultModelDir();
    if (model == null && !Files.isRegularFile(dir.resolve("config.json"))) {
      System.out.println("generating the embedded default model (preset tiny, seed 0) in " + dir);
      CheckpointGenerator.generate(Preset.TINY.config(), 0, Preset.TINY.shards(), dir);
    } else if (model == null && !Files.isRegularFile(dir.resolve(TextTokenizer.FILE_NAME))) {
      TokenizerFiles.copyDeepSeekV3(dir);
    }
    long start = System.nanoTime();
    try (LocalModel m = LocalModel.load(dir, AttentionMode.ABSORB);
        TextTokenizer tokenizer = TextTokenizer.load(dir)) {
      System.out.printf(
          Locale.ROOT, "model %s loaded in %.1f s%n", dir, (System.nanoTime() - start) / 1e9);
      int[] prompt = tokenizer.encodeChat(List.of(Map.of("role", "user", "content", PROMPT)), true);
      System.out.printf("user: %s%nassistant: ", PROMPT);
      SamplingParams greedy =
          SamplingParams.builder().temperature(0).maxTokens(decode).ignoreEos(true).build();
      start = System.nanoTime();
      LocalGenerator.Result r =
          new LocalGenerator(m, tokenizer)
              .generate(
                  prompt,
                  greedy,
                  (i, step) -> {
                    System.out.print(step.text());
                    System.out.flush();
                  });
      double seconds = (System.nanoTime() - start) / 1e9;
      System.out.printf(
          Locale.ROOT,
          "%n-- %d tokens, %.1f tokens/s, finish_reason=%s (random weights: the text is noise)%n",
          r.outputIds().length,
          r.outputIds().length / seconds,
          r.finishReason().apiName());
    }
    return 0;
  }

  static Path defaultModelDir() {
    String home = System.getProperty("disaggmoe.home", ".");
    return Path.of(home, "models", "tiny");
  }
}
