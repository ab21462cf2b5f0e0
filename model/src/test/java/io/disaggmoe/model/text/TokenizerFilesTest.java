package io.disaggmoe.model.text;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/** Loading errors name the file; ids outside the tokenizer are refused. */
class TokenizerFilesTest {
  @TempDir Path dir;

  @Test
  void aDirectoryWithoutTokenizerJsonIsNamed() {
    assertThatThrownBy(() -> TextTokenizer.load(dir))
        .isInstanceOf(IOException.class)
        .hasMessage("no tokenizer.json in " + dir);
  }

  @Test
  void invalidJsonNamesTheFile() throws IOException {
    TokenizerFiles.copyDeepSeekV3(dir);
    Files.writeString(dir.resolve("tokenizer_config.json"), "{\"add_bos_token\": tru");
    assertThatThrownBy(() -> TextTokenizer.load(dir))
        .isInstanceOf(IOException.class)
        .hasMessageContaining(dir.resolve("tokenizer_config.json") + " is not valid JSON");
  }

  @Test
  void aMalformedSpecialTokenIsNamed() throws IOException {
    TokenizerFiles.copyDeepSeekV3(dir);
    Files.writeString(dir.resolve("tokenizer_config.json"), "{\"bos_token\": 7}");
    assertThatThrownBy(() -> TextTokenizer.load(dir))
        .hasMessageContaining("bos_token is neither a string nor an AddedToken object");
  }

  @Test
  void theShippedFilesDescribeDeepSeekV3() throws IOException {
    TokenizerFiles.copyDeepSeekV3(dir);
    try (TextTokenizer t = TextTokenizer.load(dir)) {
      assertThat(t.tokenCount()).isEqualTo(128_815);
      assertThat(t.bosTokenId()).isZero();
      assertThat(t.eosTokenId()).isEqualTo(1);
      assertThat(t.isSpecial(1)).isTrue();
      assertThat(t.isSpecial(128_803)).as("<｜User｜> is an added, non-special token").isFalse();
      assertThat(t.addedTokenId("<｜Assistant｜>")).hasValue(128_804);
      assertThatThrownBy(() -> t.decode(new int[] {128_815}, false))
          .hasMessage("token id 128815 is not in the tokenizer (ids 0..128814)");
      assertThat(t.fewestTokens("x".repeat(1280))).as("1280 bytes over 128").isEqualTo(10);
    }
  }

  @Test
  void noTokenBoundWhereATokenMayCoverMoreBytesThanItsOwn() throws IOException {
    TokenizerFiles.copyDeepSeekV3(dir);
    Path file = dir.resolve(TextTokenizer.FILE_NAME);
    ObjectNode root = (ObjectNode) JsonMapper.shared().readTree(file.toFile());
    ((ObjectNode) root.path("added_tokens").get(0)).put("rstrip", true);
    JsonMapper.shared().writeValue(file.toFile(), root);
    try (TextTokenizer t = TextTokenizer.load(dir)) {
      assertThat(t.fewestTokens("x".repeat(1280))).as("an added token strips spaces").isZero();
    }
    ((ObjectNode) root.path("added_tokens").get(0)).put("rstrip", false);
    root.putObject("normalizer").put("type", "NFKC");
    JsonMapper.shared().writeValue(file.toFile(), root);
    try (TextTokenizer t = TextTokenizer.load(dir)) {
      assertThat(t.fewestTokens("x".repeat(1280))).as("a normalizer").isZero();
    }
  }
}
