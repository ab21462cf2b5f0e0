package io.disaggmoe.cli;

import io.disaggmoe.model.LocalGenerator;
import io.disaggmoe.model.LocalModel;
import io.disaggmoe.model.sampling.SamplingParams;
import io.disaggmoe.model.text.TextTokenizer;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code disaggmoe generate}: streams a completion of a prompt to stdout, then one summary line.
 */
@Command(
    name = "generate",
    mixinStandardHelpOptions = true,
    description = "Generate text from a prompt, streaming it as it is produced.")
final class GenerateCommand implements Callable<Integer> {
  @Mixin ModelOptions model;

  @Option(names = "--prompt", required = true, description = "the prompt text")
  String prompt;

  @Option(names = "--chat", description = "send the prompt as a user turn through the template")
  boolean chat;

  @Option(names = "--system", description = "system message (with --chat)")
  String system;

  @Option(names = "--max-tokens", required = true, description = "most tokens to generate")
  int maxTokens;

  @Option(
      names = "--temperature",
      defaultValue = "1.0",
      description = "0 is greedy (default ${DEFAULT-VALUE})")
  double temperature;

  @Option(names = "--top-p", defaultValue = "1.0", description = "nucleus mass (default 1, off)")
  double topP;

  @Option(names = "--top-k", defaultValue = "0", description = "keep the k most likely (0, off)")
  int topK;

  @Option(names = "--min-p", defaultValue = "0", description = "relative probability floor")
  double minP;

  @Option(names = "--presence-penalty", defaultValue = "0")
  double presencePenalty;

  @Option(names = "--frequency-penalty", defaultValue = "0")
  double frequencyPenalty;

  @Option(names = "--repetition-penalty", defaultValue = "1")
  double repetitionPenalty;

  @Option(names = "--seed", description = "seed for reproducible sampling")
  Long seed;

  @Option(names = "--stop", description = "stop string (repeatable)")
  List<String> stop = new ArrayList<>();

  @Option(names = "--ignore-eos", description = "keep generating past the EOS token")
  boolean ignoreEos;

  @Override
  public Integer call() throws Exception {
    SamplingParams params =
        SamplingParams.builder()
            .maxTokens(maxTokens)
            .temperature(temperature)
            .topP(topP)
            .topK(topK)
            .minP(minP)
            .presencePenalty(presencePenalty)
            .frequencyPenalty(frequencyPenalty)
            .repetitionPenalty(repetitionPenalty)
            .seed(seed)
            .stop(stop)
            .ignoreEos(ignoreEos)
            .build();
    try (TextTokenizer tokenizer = TextTokenizer.load(model.model);
        LocalModel m = model.loadLocal()) {
      int[] ids = promptIds(tokenizer);
      LocalGenerator generator = new LocalGenerator(m, tokenizer);
      PrintStream out = System.out;
      long start = System.nanoTime();
      long[] firstToken = {0};
      LocalGenerator.Result r =
          generator.generate(
              ids,
              params,
              (request, step) -> {
                if (firstToken[0] == 0) {
                  firstToken[0] = System.nanoTime();
                }
                out.print(step.text());
                out.flush();
              });
      double seconds = (System.nanoTime() - start) / 1e9;
      int tokens = r.outputIds().length;
      out.print(r.text().endsWith("\n") ? "" : "\n");
      out.printf(
          Locale.ROOT,
          "-- %d tokens, %.1f tokens/s, finish_reason=%s (prompt %d tokens, first token %.0f ms)%n",
          tokens,
          tokens / seconds,
          r.finishReason().apiName(),
          ids.length,
          (firstToken[0] - start) / 1e6);
    }
    return 0;
  }

  private int[] promptIds(TextTokenizer tokenizer) {
    if (!chat) {
      return tokenizer.encode(prompt, true);
    }
    List<Map<String, String>> messages = new ArrayList<>();
    if (system != null) {
      messages.add(Map.of("role", "system", "content", system));
    }
    messages.add(Map.of("role", "user", "content", prompt));
    return tokenizer.encodeChat(messages, true);
  }
}
