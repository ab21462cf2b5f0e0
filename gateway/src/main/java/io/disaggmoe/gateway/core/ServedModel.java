package io.disaggmoe.gateway.core;

import io.disaggmoe.model.text.ChatTemplateException;
import io.disaggmoe.model.text.TextTokenizer;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * The model as clients name it, with its tokenizer and context length: the gateway holds no
 * weights, only what turns text into token ids and back.
 */
public record ServedModel(String id, int maxModelLen, int vocabSize, TextTokenizer tokenizer) {
  public int[] encode(String prompt) {
    return tokenizer.encode(prompt, true);
  }

  public int[] encodeChat(List<?> messages) {
    try {
      return tokenizer.encodeChat(messages, true);
    } catch (ChatTemplateException e) {
      throw ApiException.badRequest(e.getMessage(), "messages");
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
