package io.disaggmoe.gateway.http;

import io.disaggmoe.gateway.core.ApiException;
import io.disaggmoe.gateway.core.ChatOptions;
import io.disaggmoe.gateway.core.ServedModel;
import io.disaggmoe.model.text.ChatTemplate;
import io.disaggmoe.model.text.ChatTemplateException;
import io.disaggmoe.proto.v1.SamplingParams;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Reads and checks a completions or chat completions body with OpenAI's meaning of every field (and
 * vLLM's for its own: {@code top_k}, {@code min_p}, {@code repetition_penalty}, {@code min_tokens},
 * {@code ignore_eos}, {@code stop_token_ids}, {@code include_stop_str_in_output}, {@code
 * truncate_prompt_tokens}, the chat template's options). Any field of the wrong type or out of
 * range is a 400 naming it, as is one whose meaning this server cannot give ({@link
 * UnsupportedFields}); fields it does not know are ignored, as OpenAI's own server does for forward
 * compatibility.
 */
final class OpenAiRequestParser {
  private static final JsonMapper JSON = JsonMapper.builder().build();

  /**
   * A completion without max_tokens gets OpenAI's (and vLLM's) default of 16 tokens; a chat
   * completion gets what the context leaves, as both do there.
   */
  private static final int COMPLETION_MAX_TOKENS = 16;

  private final ServedModel model;
  private final int maxN;

  OpenAiRequestParser(ServedModel model, int maxN) {
    this.model = model;
    this.maxN = maxN;
  }

  static JsonNode parseBody(byte[] body) {
    JsonNode root;
    try {
      root = JSON.readTree(body);
    } catch (JacksonException e) {
      throw ApiException.badRequest(
          "the request body is not valid JSON: " + e.getOriginalMessage(), null);
    }
    if (root == null || !root.isObject()) {
      throw ApiException.badRequest("the request body must be a JSON object", null);
    }
    return root;
  }

  /** The model field, which must name the served model (404 otherwise). */
  String model(JsonNode body) {
    JsonNode m = body.get("model");
    if (m == null || m.isNull()) {
      throw ApiException.badRequest("'model' is required", "model");
    }
    if (!m.isString()) {
      throw ApiException.badRequest("'model' must be a string", "model");
    }
    model.checkServed(m.asString());
    return m.asString();
  }

  OpenAiRequest chat(JsonNode body) {
    String name = model(body);
    UnsupportedFields.refuse(body, true);
    List<Map<String, Object>> messages = messages(body);
    int[] prompt = model.encodeChat(messages, chatOptions(body), truncation(body));
    boolean logprobs = bool(body, "logprobs", false);
    int top = integer(body, "top_logprobs", 0, 0, 20);
    if (top > 0 && !logprobs) {
      throw ApiException.badRequest("'top_logprobs' needs 'logprobs' to be true", "top_logprobs");
    }
    JsonNode max = body.get("max_completion_tokens");
    String maxField = max == null || max.isNull() ? "max_tokens" : "max_completion_tokens";
    String echoed = echoedReply(body, messages);
    return finish(
        body,
        name,
        true,
        List.of(prompt),
        List.of(echoed == null ? "" : echoed),
        echoed != null,
        maxField,
        null,
        logprobs,
        top,
        -1);
  }

  /**
   * vLLM's {@code echo} for chat: the reply starts with the final message's text when that message
   * is the assistant's (the reply it continues); null when nothing is echoed.
   */
  private static String echoedReply(JsonNode body, List<Map<String, Object>> messages) {
    if (!bool(body, "echo", false) || !"assistant".equals(messages.getLast().get("role"))) {
      return null;
    }
    try {
      return Objects.requireNonNullElse(ChatTemplate.finalContent(messages), "");
    } catch (ChatTemplateException e) {
      throw ApiException.badRequest(e.getMessage(), "messages");
    }
  }

  /** vLLM's {@code add_generation_prompt}, {@code continue_final_message}, template variables. */
  private static ChatOptions chatOptions(JsonNode body) {
    JsonNode add = body.get("add_generation_prompt");
    JsonNode kwargs = body.get("chat_template_kwargs");
    if (kwargs != null && !kwargs.isNull() && !kwargs.isObject()) {
      throw ApiException.badRequest(
          "'chat_template_kwargs' must be an object", "chat_template_kwargs");
    }
    @SuppressWarnings("unchecked")
    Map<String, Object> variables =
        kwargs == null || kwargs.isNull() ? Map.of() : JSON.convertValue(kwargs, Map.class);
    return ChatOptions.of(
        add == null || add.isNull() ? null : bool(body, "add_generation_prompt", true),
        bool(body, "continue_final_message", false),
        variables);
  }

  OpenAiRequest completion(JsonNode body) {
    String name = model(body);
    UnsupportedFields.refuse(body, false);
    List<int[]> prompts = new ArrayList<>();
    List<String> texts = new ArrayList<>();
    prompts(body, prompts, texts);
    JsonNode lp = body.get("logprobs");
    int logprobs = lp == null || lp.isNull() ? -1 : integer(body, "logprobs", -1, 0, 20);
    if (bool(body, "echo", false)) {
      for (int i = 0; i < prompts.size(); i++) {
        if (texts.get(i) == null) {
          texts.set(i, model.decode(prompts.get(i)));
        }
      }
    }
    return finish(
        body,
        name,
        false,
        prompts,
        texts,
        bool(body, "echo", false),
        "max_tokens",
        COMPLETION_MAX_TOKENS,
        logprobs >= 0,
        logprobs,
        logprobs);
  }

  private OpenAiRequest finish(
      JsonNode body,
      String name,
      boolean chat,
      List<int[]> prompts,
      List<String> texts,
      boolean echo,
      String maxField,
      Integer defaultMaxTokens,
      boolean logprobs,
      int topLogprobs,
      int completionLogprobs) {
    int n = integer(body, "n", 1, 1, maxN);
    boolean stream = bool(body, "stream", false);
    JsonNode options = body.get("stream_options");
    boolean includeUsage = false;
    boolean continuousUsage = false;
    if (options != null && !options.isNull()) {
      if (!stream) {
        throw ApiException.badRequest(
            "'stream_options' is only allowed when 'stream' is true", "stream_options");
      }
      if (!options.isObject()) {
        throw ApiException.badRequest("'stream_options' must be an object", "stream_options");
      }
      includeUsage = bool(options, "include_usage", false, "stream_options.include_usage");
      continuousUsage =
          includeUsage
              && bool(
                  options,
                  "continuous_usage_stats",
                  false,
                  "stream_options.continuous_usage_stats");
    }
    int longest = prompts.stream().mapToInt(p -> p.length).max().orElse(0);
    JsonNode max = body.get(maxField);
    int maxTokens =
        model.maxTokens(
            longest,
            max == null || max.isNull()
                ? defaultMaxTokens
                : Integer.valueOf(integer(body, maxField, 0, 1, Integer.MAX_VALUE)),
            chat ? "messages" : "prompt",
            maxField);
    SamplingParams.Builder s =
        SamplingParams.newBuilder()
            .setMaxTokens(maxTokens)
            .setLogprobs(logprobs)
            .setTopLogprobs(Math.max(0, topLogprobs))
            .setIgnoreEos(bool(body, "ignore_eos", false))
            .setSkipSpecialTokens(bool(body, "skip_special_tokens", true));
    s.setTemperature(number(body, "temperature", 1, 0, 2));
    s.setTopP(number(body, "top_p", 1, Double.MIN_VALUE, 1));
    s.setTopK(integer(body, "top_k", 0, -1, Integer.MAX_VALUE));
    s.setMinP(number(body, "min_p", 0, 0, 1));
    s.setPresencePenalty(number(body, "presence_penalty", 0, -2, 2));
    s.setFrequencyPenalty(number(body, "frequency_penalty", 0, -2, 2));
    s.setRepetitionPenalty(
        number(body, "repetition_penalty", 1, Double.MIN_VALUE, Double.MAX_VALUE));
    s.setMinTokens(integer(body, "min_tokens", 0, 0, maxTokens));
    JsonNode seed = body.get("seed");
    if (seed != null && !seed.isNull()) {
      if (!seed.isIntegralNumber() || !seed.canConvertToLong()) {
        throw ApiException.badRequest("'seed' must be an integer", "seed");
      }
      s.setSeed(seed.asLong());
    }
    s.addAllStop(stop(body));
    s.setIncludeStopStrInOutput(bool(body, "include_stop_str_in_output", false));
    JsonNode stopIds = body.get("stop_token_ids");
    if (present(stopIds)) {
      if (!stopIds.isArray()) {
        throw ApiException.badRequest(
            "'stop_token_ids' must be an array of token ids", "stop_token_ids");
      }
      if (!stopIds.isEmpty()) {
        for (int id : ids(stopIds, "stop_token_ids")) {
          s.addStopTokenIds(id);
        }
      }
    }
    logitBias(body, s);
    string(body, "user");
    return new OpenAiRequest(
        chat,
        name,
        prompts,
        texts,
        s.build(),
        n,
        stream,
        includeUsage,
        continuousUsage,
        chat && logprobs,
        chat ? -1 : completionLogprobs,
        echo,
        extraFields(body).contains("worker_id"),
        null);
  }

  /** A field given and not null. */
  static boolean present(JsonNode field) {
    return field != null && !field.isNull();
  }

  /**
   * NVIDIA Dynamo's {@code nvext.extra_fields}: what the response should add under {@code nvext}.
   * Names it does not serve are ignored, like unknown fields.
   */
  private static List<String> extraFields(JsonNode body) {
    JsonNode nvext = body.get("nvext");
    if (nvext == null || nvext.isNull()) {
      return List.of();
    }
    if (!nvext.isObject()) {
      throw ApiException.badRequest("'nvext' must be an object", "nvext");
    }
    JsonNode fields = nvext.get("extra_fields");
    if (fields == null || fields.isNull()) {
      return List.of();
    }
    List<String> out = new ArrayList<>();
    if (fields.isArray()) {
      for (JsonNode f : fields) {
        if (!f.isString()) {
          break;
        }
        out.add(f.asString());
      }
    }
    if (!fields.isArray() || out.size() != fields.size()) {
      throw ApiException.badRequest(
          "'nvext.extra_fields' must be an array of strings", "nvext.extra_fields");
    }
    return out;
  }

  /**
   * vLLM's {@code /tokenize}: a prompt (BOS added) or chat messages (template applied), counted
   * whatever their length, as vLLM does.
   */
  int[] tokenize(JsonNode body) {
    JsonNode prompt = body.get("prompt");
    if (prompt != null && !prompt.isNull()) {
      if (!prompt.isString()) {
        throw ApiException.badRequest("'prompt' must be a string", "prompt");
      }
      return model.tokenizer().encode(prompt.asString(), bool(body, "add_special_tokens", true));
    }
    if (body.has("messages")) {
      return model.tokenizer().encode(model.renderChat(messages(body), chatOptions(body)), false);
    }
    throw ApiException.badRequest("'prompt' or 'messages' is required", "prompt");
  }

  /** vLLM's {@code /detokenize}: {@code tokens}, a list of ids in the vocabulary. */
  int[] tokenIds(JsonNode body) {
    JsonNode t = body.get("tokens");
    if (t == null || !t.isArray()) {
      throw ApiException.badRequest("'tokens' must be an array of token ids", "tokens");
    }
    return t.isEmpty() ? new int[0] : ids(t, "tokens");
  }

  private static List<Map<String, Object>> messages(JsonNode body) {
    JsonNode m = body.get("messages");
    if (m == null || m.isNull()) {
      throw ApiException.badRequest("'messages' is required", "messages");
    }
    if (!m.isArray() || m.isEmpty()) {
      throw ApiException.badRequest("'messages' must be a non-empty array", "messages");
    }
    List<Map<String, Object>> out = new ArrayList<>();
    for (int i = 0; i < m.size(); i++) {
      JsonNode msg = m.get(i);
      String where = "messages[" + i + "]";
      if (!msg.isObject()) {
        throw ApiException.badRequest(where + " must be an object", where);
      }
      if (!msg.path("role").isString()) {
        throw ApiException.badRequest(where + ".role must be a string", where + ".role");
      }
      JsonNode content = msg.get("content");
      if (content != null && !content.isNull() && !content.isString() && !content.isArray()) {
        throw ApiException.badRequest(
            where + ".content must be a string or an array of content parts", where + ".content");
      }
      @SuppressWarnings("unchecked")
      Map<String, Object> asMap = JSON.convertValue(msg, Map.class);
      out.add(asMap);
    }
    return out;
  }

  /**
   * vLLM's {@code truncate_prompt_tokens}: keep only a prompt's last k tokens (-1: the context's
   * length); 0 when absent.
   */
  private int truncation(JsonNode body) {
    int k = integer(body, "truncate_prompt_tokens", 0, -1, Integer.MAX_VALUE);
    if (k == 0 && present(body.get("truncate_prompt_tokens"))) {
      throw ApiException.badRequest(
          "'truncate_prompt_tokens' must be -1 or at least 1", "truncate_prompt_tokens");
    }
    return k < 0 ? model.maxModelLen() : k;
  }

  private void prompts(JsonNode body, List<int[]> prompts, List<String> texts) {
    int keep = truncation(body);
    JsonNode p = body.get("prompt");
    if (p == null || p.isNull()) {
      throw ApiException.badRequest("'prompt' is required", "prompt");
    }
    if (p.isString()) {
      prompts.add(model.encode(p.asString(), keep));
      texts.add(p.asString());
    } else if (p.isArray() && !p.isEmpty() && p.get(0).isIntegralNumber()) {
      prompts.add(ServedModel.keepLast(ids(p, "prompt"), keep));
      texts.add(null);
    } else if (p.isArray() && !p.isEmpty()) {
      for (int i = 0; i < p.size(); i++) {
        JsonNode e = p.get(i);
        if (e.isString()) {
          prompts.add(model.encode(e.asString(), keep));
          texts.add(e.asString());
        } else if (e.isArray()) {
          prompts.add(ServedModel.keepLast(ids(e, "prompt[" + i + "]"), keep));
          texts.add(null);
        } else {
          throw ApiException.badRequest(
              "'prompt' must be a string, an array of strings, an array of token ids or an array"
                  + " of token id arrays",
              "prompt");
        }
      }
    } else {
      throw ApiException.badRequest(
          "'prompt' must be a non-empty string, array of strings or token ids", "prompt");
    }
    for (int i = 0; i < prompts.size(); i++) {
      if (prompts.get(i).length == 0) {
        throw ApiException.badRequest("prompt " + i + " is empty", "prompt");
      }
      if (keep > 0) {
        // What is echoed is what the model read: the kept tokens' text.
        texts.set(i, null);
      }
    }
  }

  /** Token ids in the vocabulary; a 400 names {@code where} and its field. */
  private int[] ids(JsonNode array, String where) {
    String param = where.contains("[") ? where.substring(0, where.indexOf('[')) : where;
    if (array.isEmpty()) {
      throw ApiException.badRequest("'" + where + "' is an empty list of token ids", param);
    }
    int[] ids = new int[array.size()];
    for (int i = 0; i < ids.length; i++) {
      JsonNode e = array.get(i);
      if (!e.isIntegralNumber()
          || !e.canConvertToInt()
          || e.asInt() < 0
          || e.asInt() >= model.vocabSize()) {
        throw ApiException.badRequest(
            where + "[" + i + "] is not a token id in [0, " + model.vocabSize() + ")", param);
      }
      ids[i] = e.asInt();
    }
    return ids;
  }

  private static List<String> stop(JsonNode body) {
    JsonNode s = body.get("stop");
    if (s == null || s.isNull()) {
      return List.of();
    }
    List<String> out = new ArrayList<>();
    if (s.isString()) {
      out.add(s.asString());
    } else if (s.isArray() && s.size() <= 4) {
      for (JsonNode e : s) {
        if (!e.isString()) {
          throw ApiException.badRequest("'stop' must hold strings", "stop");
        }
        out.add(e.asString());
      }
    } else {
      throw ApiException.badRequest("'stop' must be a string or an array of up to 4", "stop");
    }
    for (String x : out) {
      if (x.isEmpty()) {
        throw ApiException.badRequest("'stop' strings must not be empty", "stop");
      }
    }
    return out;
  }

  private void logitBias(JsonNode body, SamplingParams.Builder s) {
    JsonNode b = body.get("logit_bias");
    if (b == null || b.isNull()) {
      return;
    }
    if (!b.isObject()) {
      throw ApiException.badRequest("'logit_bias' must be an object", "logit_bias");
    }
    for (var e : b.properties()) {
      int id;
      try {
        id = Integer.parseInt(e.getKey());
      } catch (NumberFormatException x) {
        throw ApiException.badRequest(
            "'logit_bias' key '" + e.getKey() + "' is not a token id", "logit_bias");
      }
      if (id < 0 || id >= model.vocabSize()) {
        throw ApiException.badRequest(
            "'logit_bias' token " + id + " is outside [0, " + model.vocabSize() + ")",
            "logit_bias");
      }
      JsonNode v = e.getValue();
      if (!v.isNumber() || v.asDouble() < -100 || v.asDouble() > 100) {
        throw ApiException.badRequest(
            "'logit_bias' value for token " + id + " must be a number in [-100, 100]",
            "logit_bias");
      }
      s.putLogitBias(id, (float) v.asDouble());
    }
  }

  private static boolean bool(JsonNode body, String field, boolean fallback) {
    return bool(body, field, fallback, field);
  }

  private static boolean bool(JsonNode body, String field, boolean fallback, String param) {
    JsonNode v = body.get(field);
    if (v == null || v.isNull()) {
      return fallback;
    }
    if (!v.isBoolean()) {
      throw ApiException.badRequest("'" + param + "' must be a boolean", param);
    }
    return v.asBoolean();
  }

  private static int integer(JsonNode body, String field, int fallback, int min, int max) {
    JsonNode v = body.get(field);
    if (v == null || v.isNull()) {
      return fallback;
    }
    if (!v.isIntegralNumber() || !v.canConvertToInt()) {
      throw ApiException.badRequest("'" + field + "' must be an integer", field);
    }
    int x = v.asInt();
    if (x < min || x > max) {
      throw ApiException.badRequest(
          "'" + field + "' is " + x + "; it must be in [" + min + ", " + max + "]", field);
    }
    return x;
  }

  private static double number(
      JsonNode body, String field, double fallback, double min, double max) {
    JsonNode v = body.get(field);
    if (v == null || v.isNull()) {
      return fallback;
    }
    if (!v.isNumber()) {
      throw ApiException.badRequest("'" + field + "' must be a number", field);
    }
    double x = v.asDouble();
    if (!(x >= min && x <= max)) {
      throw ApiException.badRequest(
          "'"
              + field
              + "' is "
              + x
              + "; it must be in ["
              + (min == Double.MIN_VALUE ? "> 0" : min)
              + ", "
              + max
              + "]",
          field);
    }
    return x;
  }

  private static void string(JsonNode body, String field) {
    JsonNode v = body.get(field);
    if (v != null && !v.isNull() && !v.isString()) {
      throw ApiException.badRequest("'" + field + "' must be a string", field);
    }
  }
}
