package io.disaggmoe.gateway.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.disaggmoe.model.text.TextTokenizer;
import io.disaggmoe.model.text.TokenizerFiles;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Prompts that cannot fit the context are refused, and the chat template is prepared at start:
 * ready with DeepSeek-V3's, the reason without one.
 */
class ServedModelTest {
  @TempDir Path dir;

  @Test
  void deepSeekV3sTemplateIsPreparedAtStart() throws Exception {
    TokenizerFiles.copyDeepSeekV3(dir);
    try (TextTokenizer tokenizer = TextTokenizer.load(dir)) {
      assertThat(new ServedModel("tiny", 64, 129280, tokenizer).prepareChat()).isEmpty();
    }
  }

  @Test
  void aPromptPastTheContextIsRefusedAndOneFarPastItUntokenized() throws Exception {
    TokenizerFiles.copyDeepSeekV3(dir);
    try (TextTokenizer tokenizer = TextTokenizer.load(dir)) {
      ServedModel m = new ServedModel("tiny", 64, 129280, tokenizer);
      assertThat(m.encode(" word".repeat(10))).hasSize(11);
      assertThatThrownBy(() -> m.encode(" word".repeat(100)))
          .isInstanceOfSatisfying(
              ApiException.class, e -> assertThat(e.param()).isEqualTo("prompt"))
          .hasMessageContaining("your prompt has 101 tokens");
      // 1 MB: its length over DeepSeek-V3's longest token (128 bytes) is the count given.
      assertThatThrownBy(() -> m.encode("word ".repeat(200_000)))
          .hasMessageContaining("your prompt has at least 7813 tokens");
      assertThatThrownBy(
              () ->
                  m.encodeChat(
                      List.of(Map.of("role", "user", "content", "x".repeat(1 << 20))),
                      ChatOptions.DEFAULT))
          .isInstanceOfSatisfying(
              ApiException.class, e -> assertThat(e.param()).isEqualTo("messages"))
          .hasMessageContaining("your prompt has at least");
    }
  }

  @Test
  void aTokenizerWithoutChatTemplateSaysWhyChatWillBeRefused() throws Exception {
    TokenizerFiles.copyDeepSeekV3(dir);
    Files.writeString(dir.resolve("tokenizer_config.json"), "{\"bos_token\": \"<s>\"}");
    try (TextTokenizer tokenizer = TextTokenizer.load(dir)) {
      assertThat(new ServedModel("tiny", 64, 129280, tokenizer).prepareChat())
          .hasValueSatisfying(why -> assertThat(why).contains("no chat_template"));
    }
  }
}
