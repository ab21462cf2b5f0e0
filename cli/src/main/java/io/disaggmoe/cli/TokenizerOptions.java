package io.disaggmoe.cli;

import io.disaggmoe.model.text.TextTokenizer;
import java.io.IOException;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** {@code --model DIR} where only the tokenizer files are needed (a checkpoint is one). */
final class TokenizerOptions {
  @Option(
      names = "--model",
      required = true,
      description = "directory holding tokenizer.json and tokenizer_config.json")
  Path model;

  TextTokenizer load() throws IOException {
    return TextTokenizer.load(model);
  }
}
