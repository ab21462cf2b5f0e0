package io.disaggmoe.model.text;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import com.hubspot.jinjava.objects.date.StrftimeFormatter;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * Renders a {@code tokenizer_config.json} chat template with jinjava, configured as transformers
 * configures Jinja2 ({@code trim_blocks}, {@code lstrip_blocks}, {@code raise_exception}, {@code
 * strftime_now}).
 *
 * <p>Any error the engine reports fails the render: a template the engine half understands would
 * otherwise yield a silently wrong prompt.
 */
public final class ChatTemplate {
  /**
   * Jinjava's Python-compatible behaviours, minus two that break Jinja2 templates: required
   * whitespace inside tags ({@code {{bos_token}}}), and "natural" precedence, which reads {@code
   * not x is defined} as {@code (not x) is defined}.
   */
  private static final LegacyOverrides JINJA2_COMPATIBLE =
      LegacyOverrides.newBuilder()
          .withEvaluateMapKeys(true)
          .withIterateOverMapKeys(true)
          .withUsePyishObjectMapper(true)
          .withParseWhitespaceControlStrictly(true)
          .withAllowAdjacentTextNodes(true)
          .withUseTrimmingForNotesAndExpressions(true)
          .withKeepNullableLoopValues(true)
          .withHandleBackslashInQuotesOnly(true)
          .build();

  private static final Pattern TAG = Pattern.compile("\\{\\{(.*?)}}|\\{%(.*?)%}", Pattern.DOTALL);
  private static final Pattern STRING_LITERAL =
      Pattern.compile("'(?:[^'\\\\]|\\\\.)*'|\"(?:[^\"\\\\]|\\\\.)*\"");
  private static final Pattern FILTER = Pattern.compile("\\|\\s*([A-Za-z_]\\w*)");
  private static final Pattern TEST = Pattern.compile("\\bis\\s+(?:not\\s+)?([A-Za-z_]\\w*)");

  private final TokenizerSettings settings;
  private final Jinjava jinjava;

  ChatTemplate(TokenizerSettings settings) {
    this.settings = settings;
    this.jinjava =
        new Jinjava(
            JinjavaConfig.newBuilder()
                .withTrimBlocks(true)
                .withLstripBlocks(true)
                .withLegacyOverrides(JINJA2_COMPATIBLE)
                .build());
    jinjava
        .getGlobalContext()
        .registerFunction(
            new ELFunctionDefinition(
                "", "raise_exception", ChatTemplate.class, "raiseException", String.class));
    jinjava
        .getGlobalContext()
        .registerFunction(
            new ELFunctionDefinition(
                "", "strftime_now", ChatTemplate.class, "strftimeNow", String.class));
    checkNamesResolve(settings.chatTemplate());
  }

  /**
   * Jinjava renders an unknown filter or test as nothing, with no error, where Jinja2 refuses the
   * template; so every filter and test the template names is looked up before any render.
   */
  private void checkNamesResolve(String template) {
    Matcher tag = TAG.matcher(template);
    while (tag.find()) {
      String code =
          STRING_LITERAL.matcher(tag.group(tag.group(1) != null ? 1 : 2)).replaceAll("''");
      Matcher filter = FILTER.matcher(code);
      while (filter.find()) {
        if (jinjava.getGlobalContext().getFilter(filter.group(1)) == null) {
          throw new ChatTemplateException(
              "chat template uses the filter '" + filter.group(1) + "', which jinjava lacks");
        }
      }
      Matcher test = TEST.matcher(code);
      while (test.find()) {
        if (jinjava.getGlobalContext().getExpTest(test.group(1)) == null) {
          throw new ChatTemplateException(
              "chat template uses the test '" + test.group(1) + "', which jinjava lacks");
        }
      }
    }
  }

  /**
   * Renders OpenAI-style messages (maps with {@code role}, {@code content}, optionally {@code
   * tool_calls}) into the prompt text.
   */
  public String render(List<?> messages, boolean addGenerationPrompt) {
    return render(messages, addGenerationPrompt, Map.of());
  }

  /** As {@link #render(List, boolean)}, with extra template variables such as {@code tools}. */
  public String render(List<?> messages, boolean addGenerationPrompt, Map<String, ?> variables) {
    Map<String, Object> context = new HashMap<>(variables);
    context.put("messages", normalize(messages));
    context.put("add_generation_prompt", addGenerationPrompt);
    context.put("bos_token", nullToEmpty(settings.bosToken()));
    context.put("eos_token", nullToEmpty(settings.eosToken()));
    context.put("pad_token", nullToEmpty(settings.padToken()));
    context.put("unk_token", nullToEmpty(settings.unkToken()));
    RenderResult result;
    try {
      result = jinjava.renderForResult(settings.chatTemplate(), context);
    } catch (RuntimeException e) {
      throw new ChatTemplateException("chat template failed: " + e.getMessage(), e);
    }
    for (TemplateError error : result.getErrors()) {
      for (Throwable t = error.getException(); t != null; t = t.getCause()) {
        if (t instanceof ChatTemplateException rejected) {
          throw rejected;
        }
      }
    }
    if (!result.getErrors().isEmpty()) {
      throw new ChatTemplateException(
          "chat template failed: "
              + result.getErrors().stream()
                  .map(ChatTemplate::describe)
                  .collect(Collectors.joining("; ")));
    }
    return result.getOutput();
  }

  /**
   * The messages rendered to end inside the final message, so that the model continues it (vLLM's
   * and Hugging Face's {@code continue_final_message}: a reply started for the model, as DeepSeek's
   * own API does with a {@code prefix} message): rendered without a generation prompt, then cut
   * after the final message's content, where the template wrote it (its last occurrence; failing
   * that, the last occurrence of it stripped of spaces, as Hugging Face's {@code
   * apply_chat_template} looks for it).
   */
  public String renderContinuing(List<?> messages, Map<String, ?> variables) {
    String content = finalContent(messages);
    if (content == null || content.isBlank()) {
      throw new ChatTemplateException(
          "continue_final_message needs a final message with text to continue");
    }
    String rendered = render(messages, false, variables);
    int at = rendered.lastIndexOf(content);
    if (at >= 0) {
      return rendered.substring(0, at + content.length());
    }
    String stripped = content.strip();
    at = rendered.lastIndexOf(stripped);
    if (at < 0) {
      throw new ChatTemplateException(
          "continue_final_message is set, but the chat template does not write the final"
              + " message's content into the prompt");
    }
    String leading = content.stripLeading();
    return rendered.substring(
        0, at + (rendered.startsWith(leading, at) ? leading : stripped).length());
  }

  /**
   * The final message's content as the template reads it (text parts joined), or null when it has
   * none.
   */
  public static String finalContent(List<?> messages) {
    List<Map<String, Object>> normalized = normalize(messages);
    return normalized.isEmpty() ? null : (String) normalized.getLast().get("content");
  }

  private static String describe(TemplateError e) {
    String where = e.getLineno() > 0 ? " (template line " + e.getLineno() + ")" : "";
    return e.getMessage() + where;
  }

  /**
   * Checks the messages' shape and flattens OpenAI content parts to text, as vLLM does for
   * templates that expect a string.
   */
  private static List<Map<String, Object>> normalize(List<?> messages) {
    List<Map<String, Object>> out = new ArrayList<>(messages.size());
    for (int i = 0; i < messages.size(); i++) {
      if (!(messages.get(i) instanceof Map<?, ?> m)) {
        throw new ChatTemplateException("messages[" + i + "] is not an object");
      }
      if (!(m.get("role") instanceof String)) {
        throw new ChatTemplateException("messages[" + i + "] has no string 'role'");
      }
      Map<String, Object> copy = new LinkedHashMap<>();
      m.forEach((k, v) -> copy.put(String.valueOf(k), v));
      Object content = copy.get("content");
      if (content instanceof List<?> parts) {
        copy.put("content", joinTextParts(parts, i));
      } else if (content != null && !(content instanceof String)) {
        throw new ChatTemplateException("messages[" + i + "].content is not a string or a list");
      }
      out.add(copy);
    }
    return out;
  }

  private static String joinTextParts(List<?> parts, int message) {
    List<String> texts = new ArrayList<>();
    for (Object part : parts) {
      if (part instanceof Map<?, ?> p
          && "text".equals(p.get("type"))
          && p.get("text") instanceof String s) {
        texts.add(s);
      } else {
        throw new ChatTemplateException(
            "messages[" + message + "].content holds a part that is not {type: text, text}");
      }
    }
    return String.join("\n", texts);
  }

  private static String nullToEmpty(String s) {
    return s == null ? "" : s;
  }

  /** Templates call this to reject a conversation they cannot format. */
  public static String raiseException(String message) {
    throw new ChatTemplateException("chat template rejected the messages: " + message);
  }

  public static String strftimeNow(String pattern) {
    return StrftimeFormatter.format(ZonedDateTime.now(), pattern);
  }
}
