package io.disaggmoe.model.text;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * What a HF {@code tokenizer_config.json} says about special tokens and chat formatting.
 *
 * <p>{@code tokenizer.json} alone does not add DeepSeek's BOS: transformers' LlamaTokenizerFast
 * prepends it because {@code add_bos_token} is true here, so these settings decide it.
 *
 * @param chatTemplate the Jinja chat template, or null when the file has none
 */
public record TokenizerSettings(
    boolean addBosToken,
    boolean addEosToken,
    String bosToken,
    String eosToken,
    String padToken,
    String unkToken,
    String chatTemplate,
    int modelMaxLength) {

  public static final String FILE_NAME = "tokenizer_config.json";

  /** Reads {@code dir/tokenizer_config.json}. */
  public static TokenizerSettings read(Path dir) throws IOException {
    Path file = dir.resolve(FILE_NAME);
    if (!Files.isRegularFile(file)) {
      throw new IOException("no " + FILE_NAME + " in " + dir);
    }
    JsonNode n;
    try {
      n = JsonMapper.shared().readTree(file.toFile());
    } catch (JacksonException e) {
      throw new IOException(file + " is not valid JSON: " + e.getOriginalMessage(), e);
    }
    if (!n.isObject()) {
      throw new IOException(file + " is not a JSON object");
    }
    try {
      return new TokenizerSettings(
          n.path("add_bos_token").asBoolean(false),
          n.path("add_eos_token").asBoolean(false),
          tokenText(n, "bos_token"),
          tokenText(n, "eos_token"),
          tokenText(n, "pad_token"),
          tokenText(n, "unk_token"),
          chatTemplate(n.path("chat_template")),
          n.path("model_max_length").asInt(Integer.MAX_VALUE));
    } catch (IllegalArgumentException e) {
      throw new IOException(file + ": " + e.getMessage(), e);
    }
  }

  /** A special token is written either as its text or as an AddedToken object. */
  private static String tokenText(JsonNode n, String key) {
    JsonNode t = n.path(key);
    if (t.isString()) {
      return t.asString();
    }
    if (t.isObject() && t.path("content").isString()) {
      return t.path("content").asString();
    }
    if (t.isMissingNode() || t.isNull()) {
      return null;
    }
    throw new IllegalArgumentException(key + " is neither a string nor an AddedToken object");
  }

  /** Newer files list named templates; the one called "default" is the chat template. */
  private static String chatTemplate(JsonNode t) {
    if (t.isString()) {
      return t.asString();
    }
    if (t.isArray()) {
      for (JsonNode named : t) {
        if (named.path("name").asString("").equals("default")) {
          return named.path("template").asString();
        }
      }
      throw new IllegalArgumentException("chat_template lists no template named 'default'");
    }
    if (t.isMissingNode() || t.isNull()) {
      return null;
    }
    throw new IllegalArgumentException("chat_template is neither a string nor a list");
  }
}
