package io.disaggmoe.model.text;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.disaggmoe.model.testing.SharedTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Templates the engine cannot render, and messages it cannot take, fail loudly. */
class ChatTemplateTest {
  @TempDir Path dir;

  private static ChatTemplate template(String jinja) {
    return new ChatTemplate(
        new TokenizerSettings(true, false, "<s>", "</s>", null, null, jinja, 4096));
  }

  private static final List<Map<String, Object>> HELLO =
      List.of(Map.of("role", "user", "content", "Hello"));

  @Test
  void anUnknownFilterIsRefusedBeforeRendering() {
    assertThatThrownBy(() -> template("{{ messages[0].content | shout }}"))
        .isInstanceOf(ChatTemplateException.class)
        .hasMessageContaining("filter 'shout'");
  }

  @Test
  void anUnknownTestIsRefusedBeforeRendering() {
    assertThatThrownBy(() -> template("{% if messages is sequencelike %}x{% endif %}"))
        .isInstanceOf(ChatTemplateException.class)
        .hasMessageContaining("test 'sequencelike'");
  }

  @Test
  void pipesInsideStringLiteralsAreNotFilters() {
    ChatTemplate t = template("{{ '<|user|>' + messages[0].content + \"|end\" }}");
    assertThat(t.render(HELLO, false)).isEqualTo("<|user|>Hello|end");
  }

  @Test
  void aPythonStringMethodJinjavaLacksFailsTheRender() {
    ChatTemplate t = template("{% if messages[0].content.startswith('H') %}yes{% endif %}");
    assertThatThrownBy(() -> t.render(HELLO, false))
        .isInstanceOf(ChatTemplateException.class)
        .hasMessageContaining("startswith");
  }

  @Test
  void raiseExceptionCarriesTheTemplatesMessage() {
    ChatTemplate t =
        template(
            "{% if messages[0].role != 'system' %}{{ raise_exception('system message first')"
                + " }}{% endif %}");
    assertThatThrownBy(() -> t.render(HELLO, false))
        .isInstanceOf(ChatTemplateException.class)
        .hasMessageContaining("system message first");
  }

  @Test
  void aSyntaxErrorFailsTheRender() {
    ChatTemplate t = template("{% for m in messages %}{{ m.content }}");
    assertThatThrownBy(() -> t.render(HELLO, false)).isInstanceOf(ChatTemplateException.class);
  }

  @Test
  void textContentPartsAreJoinedAndOtherPartsRefused() {
    ChatTemplate t = template("{% for m in messages %}[{{ m.content }}]{% endfor %}");
    var parts = List.of(Map.of("type", "text", "text", "a"), Map.of("type", "text", "text", "b"));
    assertThat(t.render(List.of(Map.of("role", "user", "content", parts)), false))
        .isEqualTo("[a\nb]");
    var image = List.of(Map.of("type", "image_url", "image_url", Map.of("url", "x")));
    assertThatThrownBy(() -> t.render(List.of(Map.of("role", "user", "content", image)), false))
        .hasMessageContaining("messages[0].content");
  }

  @Test
  void messagesWithoutARoleAreRefused() {
    ChatTemplate t = template("{{ messages }}");
    assertThatThrownBy(() -> t.render(List.of(Map.of("content", "hi")), false))
        .hasMessage("messages[0] has no string 'role'");
    assertThatThrownBy(() -> t.render(List.of("hi"), false))
        .hasMessage("messages[0] is not an object");
  }

  @Test
  void aConfigWithoutTemplateSaysSo() throws IOException {
    TokenizerFiles.copyDeepSeekV3(dir);
    Path config = dir.resolve(TokenizerSettings.FILE_NAME);
    Files.writeString(config, "{\"add_bos_token\": false}");
    try (TextTokenizer t = TextTokenizer.load(dir)) {
      assertThatThrownBy(t::chatTemplate).hasMessageContaining("has no chat_template");
      assertThat(t.bosTokenId()).isEqualTo(-1);
      assertThat(t.encode("Hi", true)).containsExactly(t.encode("Hi", false));
    }
  }

  @Test
  void continuingEndsDeepSeekV3sPromptInsideTheFinalMessage() {
    ChatTemplate deepSeek = SharedTokenizer.deepSeekV3().chatTemplate();
    List<Map<String, Object>> chat =
        List.of(
            Map.of("role", "user", "content", "Name a colour."),
            Map.of("role", "assistant", "content", "The colour is"));
    assertThat(deepSeek.renderContinuing(chat, Map.of()))
        .isEqualTo("<｜begin▁of▁sentence｜><｜User｜>Name a colour.<｜Assistant｜>The colour is");
    assertThat(deepSeek.render(chat, true))
        .as("without it the reply is closed and a new one opened")
        .endsWith("The colour is<｜end▁of▁sentence｜><｜Assistant｜>");
  }

  @Test
  void continuingFindsAFinalMessageTheTemplateStripped() {
    ChatTemplate stripping =
        template("{% for m in messages %}[{{ m.role }}]{{ m.content | trim }}</s>{% endfor %}");
    List<Map<String, Object>> chat =
        List.of(
            Map.of("role", "user", "content", "Hi"),
            Map.of("role", "assistant", "content", "  Hi there \n"));
    assertThat(stripping.renderContinuing(chat, Map.of()))
        .isEqualTo("[user]Hi</s>[assistant]Hi there");
    assertThatThrownBy(
            () ->
                stripping.renderContinuing(
                    List.of(Map.of("role", "assistant", "content", " ")), Map.of()))
        .isInstanceOf(ChatTemplateException.class)
        .hasMessageContaining("a final message with text");
    assertThatThrownBy(
            () ->
                template("{% for m in messages %}{{ m.role }}{% endfor %}")
                    .renderContinuing(chat, Map.of()))
        .isInstanceOf(ChatTemplateException.class)
        .hasMessageContaining("does not write the final message's content");
  }

  @Test
  void templateVariablesReachTheTemplateButNeverReplaceTheMessages() {
    ChatTemplate t =
        template(
            "{% if thinking %}<think>{% endif %}{{ messages | length }}{{ add_generation_prompt }}");
    assertThat(t.render(HELLO, true, Map.of("thinking", true, "messages", List.of())))
        .isEqualTo("<think>1true");
  }
}
