package io.disaggmoe.gateway.core;

import io.disaggmoe.model.text.ChatTemplate;
import io.disaggmoe.model.text.ChatTemplateException;
import io.disaggmoe.model.text.TextTokenizer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The model as clients name it, with its tokenizer and context length: the gateway holds no
 * weights, only what turns text into token ids and back.
 */
public record ServedModel(String id, int maxModelLen, int vocabSize, TextTokenizer tokenizer) {
  /** A request's model must be this one: 404 otherwise. */
  public void checkServed(String requested) {
    if (!requested.equals(id)) {
      throw ApiException.notFound(
          "The model '" + requested + "' does not exist; this server serves '" + id + "'",
          "model",
          "model_not_found");
    }
  }

  /**
   * The output length a request may have: {@code requested}, or what the context leaves after the
   * prompt when null. A prompt that fills the context, or a sum past it, is a 400 naming {@code
   * promptParam} or {@code maxParam}.
   */
  public int maxTokens(int promptLength, Integer requested, String promptParam, String maxParam) {
    if (promptLength >= maxModelLen) {
      throw promptTooLong(String.valueOf(promptLength), promptParam);
    }
    int max = requested == null ? maxModelLen - promptLength : requested;
    if (max < 1) {
      throw ApiException.badRequest("'" + maxParam + "' must be at least 1", maxParam);
    }
    if ((long) promptLength + max > maxModelLen) {
      throw ApiException.badRequest(
          "This model's maximum context length is "
              + maxModelLen
              + " tokens. However, you requested "
              + ((long) promptLength + max)
              + " tokens ("
              + promptLength
              + " in the prompt, "
              + max
              + " in the completion). Please reduce the length of the prompt or '"
              + maxParam
              + "'.",
          maxParam);
    }
    return max;
  }

  private ApiException promptTooLong(String tokens, String param) {
    return ApiException.badRequest(
        "This model's maximum context length is "
            + maxModelLen
            + " tokens. However, your prompt has "
            + tokens
            + " tokens. Please reduce the length of the prompt.",
        param);
  }

  /** A prompt's ids, BOS first; a prompt that leaves no room in the context is a 400. */
  public int[] encode(String prompt) {
    return encode(prompt, 0);
  }

  /**
   * As {@link #encode(String)}, keeping only the last {@code keepLast} ids when that is above 0.
   */
  public int[] encode(String prompt, int keepLast) {
    return encodeFitting(prompt, true, "prompt", keepLast);
  }

  /** The chat prompt's ids; one that leaves no room in the context is a 400. */
  public int[] encodeChat(List<?> messages, ChatOptions options) {
    return encodeChat(messages, options, 0);
  }

  /** As {@link #encodeChat(List, ChatOptions)}, keeping only the last {@code keepLast} ids. */
  public int[] encodeChat(List<?> messages, ChatOptions options, int keepLast) {
    return encodeFitting(renderChat(messages, options), false, "messages", keepLast);
  }

  /**
   * vLLM's {@code truncate_prompt_tokens}: the last {@code keepLast} ids when there are more (the
   * start of the prompt is dropped), all of them when {@code keepLast} is 0.
   */
  public static int[] keepLast(int[] ids, int keepLast) {
    return keepLast > 0 && ids.length > keepLast
        ? Arrays.copyOfRange(ids, ids.length - keepLast, ids.length)
        : ids;
  }

  /** The messages through the chat template, as the model reads them (400 when they cannot be). */
  public String renderChat(List<?> messages, ChatOptions options) {
    try {
      ChatTemplate template = tokenizer.chatTemplate();
      return options.continueFinalMessage()
          ? template.renderContinuing(messages, options.templateKwargs())
          : template.render(messages, options.addGenerationPrompt(), options.templateKwargs());
    } catch (ChatTemplateException e) {
      throw ApiException.badRequest(e.getMessage(), "messages");
    }
  }

  /**
   * Refuses a text that cannot fit before tokenizing it when its length alone shows that, so that a
   * request body of megabytes costs no more than one that fits.
   */
  private int[] encodeFitting(String text, boolean addSpecialTokens, String param, int keepLast) {
    int fewest = keepLast > 0 ? 0 : tokenizer.fewestTokens(text);
    if (fewest >= maxModelLen) {
      throw promptTooLong("at least " + fewest, param);
    }
    int[] ids = keepLast(tokenizer.encode(text, addSpecialTokens), keepLast);
    if (ids.length >= maxModelLen) {
      throw promptTooLong(String.valueOf(ids.length), param);
    }
    return ids;
  }

  /**
   * Renders and encodes a one-message chat once, so that the first chat request does not pay for
   * the template engine's start (0.4 s of a 0.96 s first request on the tiny model: loading the
   * engine, parsing the template). Returns why the chat template cannot serve even that (chat
   * requests will then get that error as a 400), or empty.
   */
  public Optional<String> prepareChat() {
    try {
      encodeChat(List.of(Map.of("role", "user", "content", "Hello")), ChatOptions.DEFAULT);
      return Optional.empty();
    } catch (ApiException e) {
      return Optional.of(e.getMessage());
    }
  }

  public String decode(int[] ids) {
    return tokenizer.decode(ids, false);
  }

  /** A token as logprobs show it: its text (a partial character shows as U+FFFD) and bytes. */
  public String tokenText(int id) {
    return new String(tokenBytes(id), StandardCharsets.UTF_8);
  }

  public byte[] tokenBytes(int id) {
    return tokenizer.isByteLevel()
        ? tokenizer.tokenBytes(id)
        : tokenizer.decode(new int[] {id}, false).getBytes(StandardCharsets.UTF_8);
  }
}
