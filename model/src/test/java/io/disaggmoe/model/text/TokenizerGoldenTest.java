package io.disaggmoe.model.text;

import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.model.testing.SharedTokenizer;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** Every entry of the shared golden tokenizer file: ids and rendered chat prompts identical. */
class TokenizerGoldenTest {
  private static final TextTokenizer tokenizer = SharedTokenizer.deepSeekV3();

  static JsonNode golden() throws IOException {
    try (InputStream in =
        TokenizerGoldenTest.class.getResourceAsStream("/tokenizer/golden-tokenizer.json")) {
      if (in == null) {
        throw new IOException("test resource /tokenizer/golden-tokenizer.json is missing");
      }
      return JsonMapper.shared().readTree(in);
    }
  }

  static Stream<Arguments> encodeCases() throws IOException {
    List<Arguments> cases = new ArrayList<>();
    for (JsonNode e : golden().path("encode")) {
      String text = e.path("text").asString();
      boolean special = e.path("add_special_tokens").asBoolean();
      cases.add(
          Arguments.of(
              Named.of("'" + abbreviate(text) + "'" + (special ? " +special" : ""), text),
              special,
              ids(e.path("ids"))));
    }
    assertThat(cases).hasSize(44);
    return cases.stream();
  }

  static Stream<Arguments> chatCases() throws IOException {
    List<Arguments> cases = new ArrayList<>();
    int i = 0;
    for (JsonNode c : golden().path("chat")) {
      List<?> messages = JsonMapper.shared().treeToValue(c.path("messages"), List.class);
      cases.add(
          Arguments.of(
              Named.of("chat " + i++, messages),
              c.path("add_generation_prompt").asBoolean(),
              c.path("rendered").asString(),
              ids(c.path("ids"))));
    }
    assertThat(cases).hasSize(4);
    return cases.stream();
  }

  @ParameterizedTest
  @MethodSource("encodeCases")
  void encodesLikeTransformers(String text, boolean addSpecialTokens, int[] expected) {
    assertThat(tokenizer.encode(text, addSpecialTokens))
        .as("ids of %s", Arrays.toString(expected))
        .containsExactly(expected);
  }

  @ParameterizedTest
  @MethodSource("encodeCases")
  void fewestTokensIsALowerBound(String text, boolean addSpecialTokens, int[] expected) {
    assertThat(tokenizer.fewestTokens(text)).isLessThanOrEqualTo(expected.length);
  }

  @Test
  void fewestTokensCountsTheLongestTokensBytes() {
    // DeepSeek-V3's longest tokens are 128 bytes: runs of spaces and of dots.
    String dots = ".".repeat(1280);
    assertThat(tokenizer.fewestTokens(dots)).isEqualTo(10);
    assertThat(tokenizer.encode(dots, false)).hasSize(10);
    assertThat(tokenizer.fewestTokens(".".repeat(1281))).isEqualTo(11);
    for (String run : List.of(" ", "ab", "中", "\uD83D\uDE00", "<｜User｜>", "\uD800")) {
      String text = run.repeat(3000);
      assertThat(tokenizer.fewestTokens(text))
          .as("'%s' x 3000", run)
          .isLessThanOrEqualTo(tokenizer.encode(text, false).length);
    }
  }

  @ParameterizedTest
  @MethodSource("encodeCases")
  void decodesBackToTheText(String text, boolean addSpecialTokens, int[] expected) {
    int[] withoutBos =
        addSpecialTokens ? Arrays.copyOfRange(expected, 1, expected.length) : expected;
    assertThat(tokenizer.decode(withoutBos, false)).isEqualTo(text);
  }

  @ParameterizedTest
  @MethodSource("chatCases")
  void rendersChatLikeTransformers(
      List<?> messages, boolean addGenerationPrompt, String rendered, int[] expectedIds) {
    String prompt = tokenizer.chatTemplate().render(messages, addGenerationPrompt);
    assertThat(prompt).isEqualTo(rendered);
    assertThat(tokenizer.encode(prompt, false)).containsExactly(expectedIds);
    assertThat(tokenizer.encodeChat(messages, addGenerationPrompt)).containsExactly(expectedIds);
  }

  private static int[] ids(JsonNode array) {
    int[] ids = new int[array.size()];
    for (int i = 0; i < ids.length; i++) {
      ids[i] = array.get(i).asInt();
    }
    return ids;
  }

  private static String abbreviate(String s) {
    String oneLine = s.replace("\n", "\\n").replace("\t", "\\t");
    return oneLine.length() > 30 ? oneLine.substring(0, 30) + "…" : oneLine;
  }
}
