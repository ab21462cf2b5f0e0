package io.disaggmoe.cli;

import io.disaggmoe.model.text.TextTokenizer;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import tools.jackson.databind.json.JsonMapper;

/** {@code disaggmoe tokenize}: prints a text's token ids as one JSON array. */
@Command(
    name = "tokenize",
    mixinStandardHelpOptions = true,
    description = "Print the token ids of a text as a JSON array.")
final class TokenizeCommand implements Callable<Integer> {
  @Mixin TokenizerOptions tokenizer;

  @Option(names = "--text", required = true, description = "the text to encode")
  String text;

  @Option(
      names = "--no-special-tokens",
      description = "do not add BOS/EOS as tokenizer_config.json asks")
  boolean noSpecialTokens;

  @Override
  public Integer call() throws Exception {
    try (TextTokenizer t = tokenizer.load()) {
      System.out.println(JsonMapper.shared().writeValueAsString(t.encode(text, !noSpecialTokens)));
    }
    return 0;
  }
}
