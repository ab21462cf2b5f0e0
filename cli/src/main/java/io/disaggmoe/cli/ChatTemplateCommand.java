package io.disaggmoe.cli;

import io.disaggmoe.model.text.TextTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.json.JsonMapper;

/** {@code disaggmoe chat-template}: prints the prompt a chat renders to, exactly. */
@Command(
    name = "chat-template",
    mixinStandardHelpOptions = true,
    description = "Render an OpenAI-style messages file with the model's chat template.")
final class ChatTemplateCommand implements Callable<Integer> {
  @Mixin TokenizerOptions tokenizer;

  @Option(
      names = "--messages",
      required = true,
      description = "JSON file holding an OpenAI-style messages array")
  Path messages;

  @Option(names = "--add-generation-prompt", description = "end with the assistant's turn opener")
  boolean addGenerationPrompt;

  @Override
  public Integer call() throws Exception {
    List<?> chat = readMessages(messages);
    try (TextTokenizer t = tokenizer.load()) {
      String prompt = t.chatTemplate().render(chat, addGenerationPrompt);
      // Exactly the prompt, with a newline only when it does not already end with one.
      System.out.print(prompt.endsWith("\n") ? prompt : prompt + "\n");
      System.out.flush();
    }
    return 0;
  }

  static List<?> readMessages(Path file) throws IOException {
    if (!Files.isRegularFile(file)) {
      throw new IOException("messages file " + file + " does not exist");
    }
    Object parsed;
    try {
      parsed = JsonMapper.shared().readValue(file.toFile(), Object.class);
    } catch (JacksonException e) {
      throw new IOException(file + " is not valid JSON: " + e.getOriginalMessage(), e);
    }
    if (!(parsed instanceof List<?> list)) {
      throw new IOException(file + " must hold a JSON array of messages");
    }
    return list;
  }
}
