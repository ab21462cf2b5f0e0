package io.disaggmoe.model.text;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * A HF tokenizer directory ({@code tokenizer.json} + {@code tokenizer_config.json}) as the model
 * sees it: text to ids with the config's BOS/EOS rules, ids back to text, and each token's raw
 * bytes for streaming.
 *
 * <p>Encoding and decoding run in HF's own Rust tokenizer through DJL, so ids match transformers
 * exactly; the vocabulary is also read here because streaming needs bytes, not lossy strings.
 */
public final class TextTokenizer implements AutoCloseable {
  public static final String FILE_NAME = "tokenizer.json";

  private final HuggingFaceTokenizer hf;
  private final TokenizerSettings settings;
  private final String[] tokens;
  private final boolean[] special;
  private final boolean byteLevel;
  private final Map<String, Integer> addedIds;
  // Bytes of the longest token, for fewestTokens; 0 where that bound does not hold.
  private final int longestTokenBytes;
  private final int bosId;
  private final int eosId;
  private ChatTemplate chatTemplate;

  private TextTokenizer(
      HuggingFaceTokenizer hf,
      TokenizerSettings settings,
      String[] tokens,
      boolean[] special,
      boolean byteLevel,
      Map<String, Integer> addedIds,
      int longestTokenBytes) {
    this.hf = hf;
    this.settings = settings;
    this.tokens = tokens;
    this.special = special;
    this.byteLevel = byteLevel;
    this.addedIds = addedIds;
    this.longestTokenBytes = longestTokenBytes;
    this.bosId = idOf(settings.bosToken());
    this.eosId = idOf(settings.eosToken());
  }

  /** Loads {@code dir/tokenizer.json} and {@code dir/tokenizer_config.json}. */
  public static TextTokenizer load(Path dir) throws IOException {
    Path file = dir.resolve(FILE_NAME);
    if (!Files.isRegularFile(file)) {
      throw new IOException("no " + FILE_NAME + " in " + dir);
    }
    TokenizerSettings settings = TokenizerSettings.read(dir);
    JsonNode root;
    try {
      root = JsonMapper.shared().readTree(file.toFile());
    } catch (JacksonException e) {
      throw new IOException(file + " is not valid JSON: " + e.getOriginalMessage(), e);
    }
    JsonNode vocab = root.path("model").path("vocab");
    if (!vocab.isObject()) {
      throw new IOException(file + ": model.vocab is missing or not an object");
    }
    int size = 0;
    for (var e : vocab.properties()) {
      size = Math.max(size, e.getValue().asInt() + 1);
    }
    for (JsonNode added : root.path("added_tokens")) {
      size = Math.max(size, added.path("id").asInt() + 1);
    }
    String[] tokens = new String[size];
    boolean[] special = new boolean[size];
    Map<String, Integer> addedIds = new HashMap<>();
    for (var e : vocab.properties()) {
      tokens[e.getValue().asInt()] = e.getKey();
    }
    // Added tokens take precedence over the model vocabulary, as in HF's id_to_token.
    for (JsonNode added : root.path("added_tokens")) {
      int id = added.path("id").asInt();
      String content = added.path("content").asString();
      tokens[id] = content;
      special[id] = added.path("special").asBoolean(false);
      addedIds.put(content, id);
    }
    boolean byteLevel = root.path("decoder").path("type").asString("").equals("ByteLevel");
    int longest = 0;
    boolean strips = false;
    for (JsonNode added : root.path("added_tokens")) {
      // An added token that strips the spaces beside it covers more bytes than its own.
      strips |= added.path("lstrip").asBoolean(false) || added.path("rstrip").asBoolean(false);
    }
    if (byteLevel && !strips && isIdentity(root.path("normalizer"))) {
      for (String token : tokens) {
        if (token != null) {
          longest = Math.max(longest, ByteLevelAlphabet.tokenBytes(token).length);
        }
      }
    }
    HuggingFaceTokenizer hf =
        HuggingFaceTokenizer.newInstance(
            file, Map.of("addSpecialTokens", "false", "truncation", "false", "padding", "false"));
    return new TextTokenizer(hf, settings, tokens, special, byteLevel, addedIds, longest);
  }

  /** No normalizer, or an empty sequence of them (DeepSeek's): the text's bytes are encoded. */
  private static boolean isIdentity(JsonNode normalizer) {
    return normalizer.isMissingNode()
        || normalizer.isNull()
        || (normalizer.path("type").asString("").equals("Sequence")
            && normalizer.path("normalizers").isEmpty());
  }

  /**
   * A lower bound on the tokens {@code text} encodes to, found without encoding it, so that a
   * prompt far past a model's context is refused before it costs seconds of tokenizing (7.8 MB took
   * 15 s here). A byte-level BPE without a normalizer, nor added tokens that strip spaces, covers
   * each of the text's UTF-8 bytes (at least one per UTF-16 unit) with exactly one token, so it
   * takes at least the text's length over the longest token's bytes (128 for DeepSeek-V3). 0 for
   * other tokenizers.
   */
  public int fewestTokens(String text) {
    return longestTokenBytes == 0
        ? 0
        : (int) (((long) text.length() + longestTokenBytes - 1) / longestTokenBytes);
  }

  public TokenizerSettings settings() {
    return settings;
  }

  /** One more than the largest token id, so every id below it names a token. */
  public int tokenCount() {
    return tokens.length;
  }

  /** The BOS token's id, or -1 when the config names none. */
  public int bosTokenId() {
    return bosId;
  }

  /** The EOS token's id, or -1 when the config names none. */
  public int eosTokenId() {
    return eosId;
  }

  public boolean isSpecial(int id) {
    checkId(id);
    return special[id];
  }

  /** The id of an added token's text (for example {@code <｜User｜>}). */
  public OptionalInt addedTokenId(String content) {
    Integer id = addedIds.get(content);
    return id == null ? OptionalInt.empty() : OptionalInt.of(id);
  }

  /**
   * Encodes text; with {@code addSpecialTokens} BOS/EOS are added as {@code add_bos_token} and
   * {@code add_eos_token} say. Special-token text in the input is matched as those tokens.
   */
  public int[] encode(String text, boolean addSpecialTokens) {
    long[] raw = hf.encode(text, false, false).getIds();
    boolean bos = addSpecialTokens && settings.addBosToken() && bosId >= 0;
    boolean eos = addSpecialTokens && settings.addEosToken() && eosId >= 0;
    int[] ids = new int[raw.length + (bos ? 1 : 0) + (eos ? 1 : 0)];
    int at = 0;
    if (bos) {
      ids[at++] = bosId;
    }
    for (long id : raw) {
      ids[at++] = (int) id;
    }
    if (eos) {
      ids[at] = eosId;
    }
    return ids;
  }

  /**
   * Renders OpenAI-style messages with the chat template and encodes the prompt without adding
   * special tokens, since the template writes BOS itself (transformers' {@code
   * apply_chat_template(tokenize=True)}).
   */
  public int[] encodeChat(List<?> messages, boolean addGenerationPrompt) {
    return encode(chatTemplate().render(messages, addGenerationPrompt), false);
  }

  /** Decodes ids as HF's {@code tokenizer.decode} does. */
  public String decode(int[] ids, boolean skipSpecialTokens) {
    long[] raw = new long[ids.length];
    for (int i = 0; i < ids.length; i++) {
      checkId(ids[i]);
      raw[i] = ids[i];
    }
    return hf.decode(raw, skipSpecialTokens);
  }

  /** True when {@link #tokenBytes} is available (a byte-level BPE such as DeepSeek's). */
  public boolean isByteLevel() {
    return byteLevel;
  }

  /** The bytes a token stands for; a token may hold part of a UTF-8 character. */
  public byte[] tokenBytes(int id) {
    checkId(id);
    if (!byteLevel) {
      throw new IllegalStateException(
          "token bytes need a ByteLevel decoder; this tokenizer.json has another decoder");
    }
    return ByteLevelAlphabet.tokenBytes(tokens[id]);
  }

  /** The chat template of {@code tokenizer_config.json}, ready to render. */
  public synchronized ChatTemplate chatTemplate() {
    if (settings.chatTemplate() == null) {
      throw new ChatTemplateException(TokenizerSettings.FILE_NAME + " has no chat_template");
    }
    if (chatTemplate == null) {
      chatTemplate = new ChatTemplate(settings);
    }
    return chatTemplate;
  }

  private int idOf(String token) {
    if (token == null) {
      return -1;
    }
    Integer id = addedIds.get(token);
    if (id != null) {
      return id;
    }
    for (int i = 0; i < tokens.length; i++) {
      if (token.equals(tokens[i])) {
        return i;
      }
    }
    return -1;
  }

  private void checkId(int id) {
    if (id < 0 || id >= tokens.length || tokens[id] == null) {
      throw new IllegalArgumentException(
          "token id " + id + " is not in the tokenizer (ids 0.." + (tokens.length - 1) + ")");
    }
  }

  @Override
  public void close() {
    hf.close();
  }
}
