package io.disaggmoe.gateway.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.model.text.TextTokenizer;
import io.disaggmoe.model.text.TokenizerFiles;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Preparing the chat template at start: ready with DeepSeek-V3's, the reason without one. */
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
  void aTokenizerWithoutChatTemplateSaysWhyChatWillBeRefused() throws Exception {
    TokenizerFiles.copyDeepSeekV3(dir);
    Files.writeString(dir.resolve("tokenizer_config.json"), "{\"bos_token\": \"<s>\"}");
    try (TextTokenizer tokenizer = TextTokenizer.load(dir)) {
      assertThat(new ServedModel("tiny", 64, 129280, tokenizer).prepareChat())
          .hasValueSatisfying(why -> assertThat(why).contains("no chat_template"));
    }
  }
}
