package io.disaggmoe.model.text;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

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
}
