package io.disaggmoe.gateway.http;

import static io.disaggmoe.gateway.http.OpenAiRequestParser.present;

import io.disaggmoe.gateway.core.ApiException;
import java.util.List;
import java.util.Set;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.JsonNodeFactory;
import tools.jackson.databind.node.ObjectNode;

/**
 * OpenAI's Responses API ({@code POST /v1/responses}) read as the chat request it amounts to here:
 * {@code instructions} become a system message and {@code input} (a string, or messages of text)
 * the messages that follow; {@code max_output_tokens} is the chat's {@code max_tokens}, and every
 * other field keeps its meaning (and its checks) from {@link OpenAiRequestParser#chat}. What this
 * server cannot give is a 400 naming the field: stored responses ({@code previous_response_id},
 * {@code conversation}), background runs, prompt templates, items other than messages, content
 * other than text, structured output and tools (as for chat), log probabilities.
 */
final class ResponsesRequestParser {
  private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

  /** Responses API fields with no chat counterpart, or none this server acts on. */
  private static final List<String> NOT_CHAT =
      List.of(
          "input",
          "instructions",
          "max_output_tokens",
          "text",
          "reasoning",
          "store",
          "metadata",
          "include",
          "truncation",
          "parallel_tool_calls",
          "max_tool_calls",
          "service_tier",
          "safety_identifier",
          "prompt_cache_key",
          "stream_options",
          "top_logprobs");

  /** Chat fields a Responses API request does not have: left out, whatever was sent. */
  private static final List<String> CHAT_ONLY =
      List.of(
          "messages",
          "n",
          "logprobs",
          "echo",
          "max_tokens",
          "max_completion_tokens",
          "continue_final_message",
          "add_generation_prompt");

  private static final Set<String> ROLES = Set.of("user", "assistant", "system", "developer");
  private static final Set<String> TEXT_PARTS = Set.of("input_text", "output_text", "text");

  private final OpenAiRequestParser chats;

  ResponsesRequestParser(OpenAiRequestParser chats) {
    this.chats = chats;
  }

  OpenAiRequest parse(JsonNode body) {
    chats.model(body);
    refuse(body);
    ObjectNode chat = ((ObjectNode) body).deepCopy();
    NOT_CHAT.forEach(chat::remove);
    CHAT_ONLY.forEach(chat::remove);
    String instructions = text(body, "instructions");
    chat.set("messages", messages(body, instructions));
    JsonNode max = body.get("max_output_tokens");
    if (present(max)) {
      chat.set("max_tokens", max);
    }
    OpenAiRequest request;
    try {
      request = chats.chat(chat);
    } catch (ApiException e) {
      throw inResponsesTerms(e);
    }
    JsonNode metadata = body.get("metadata");
    if (present(metadata) && !metadata.isObject()) {
      throw ApiException.badRequest("'metadata' must be an object", "metadata");
    }
    return request.asResponses(
        new ResponsesOptions(
            instructions,
            present(max) ? request.sampling().getMaxTokens() : null,
            present(metadata) ? metadata : NODES.objectNode(),
            text(body, "user")));
  }

  private static void refuse(JsonNode body) {
    for (String stored : List.of("previous_response_id", "conversation")) {
      if (present(body.get(stored))) {
        throw ApiException.badRequest(
            "this server keeps no responses or conversations; send the whole conversation as"
                + " 'input'",
            stored);
      }
    }
    if (body.path("background").asBoolean(false)) {
      throw ApiException.badRequest("background responses are not supported", "background");
    }
    if (present(body.get("prompt"))) {
      throw ApiException.badRequest("prompt templates are not supported", "prompt");
    }
    JsonNode format = body.path("text").path("format");
    if (!format.isMissingNode()
        && !format.isNull()
        && !format.path("type").asString("").equals("text")) {
      throw ApiException.badRequest(
          "structured output is not supported by this server; 'text.format' may only be"
              + " {\"type\": \"text\"}",
          "text.format");
    }
    JsonNode top = body.get("top_logprobs");
    if (present(top) && !(top.isIntegralNumber() && top.asInt() == 0)) {
      throw ApiException.badRequest(
          "log probabilities are not supported on /v1/responses", "top_logprobs");
    }
  }

  private static String text(JsonNode body, String field) {
    JsonNode v = body.get(field);
    if (!present(v)) {
      return null;
    }
    if (!v.isString()) {
      throw ApiException.badRequest("'" + field + "' must be a string", field);
    }
    return v.asString();
  }

  /** The instructions as a system message, then the input's messages. */
  private static ArrayNode messages(JsonNode body, String instructions) {
    ArrayNode out = NODES.arrayNode();
    if (instructions != null) {
      out.addObject().put("role", "system").put("content", instructions);
    }
    JsonNode input = body.get("input");
    if (!present(input)) {
      throw ApiException.badRequest("'input' is required", "input");
    }
    if (input.isString()) {
      out.addObject().put("role", "user").put("content", input.asString());
      return out;
    }
    if (!input.isArray() || input.isEmpty()) {
      throw ApiException.badRequest(
          "'input' must be a string or a non-empty array of messages", "input");
    }
    for (int i = 0; i < input.size(); i++) {
      out.add(message(input.get(i), "input[" + i + "]"));
    }
    return out;
  }

  private static ObjectNode message(JsonNode item, String where) {
    if (!item.isObject()) {
      throw ApiException.badRequest(where + " must be an object", where);
    }
    String type = item.path("type").asString("message");
    if (!type.equals("message")) {
      throw ApiException.badRequest(
          where + " is a '" + type + "' item; only messages are supported", where);
    }
    String role = item.path("role").asString("");
    if (!ROLES.contains(role)) {
      throw ApiException.badRequest(
          where + ".role must be one of user, assistant, system, developer", where + ".role");
    }
    ObjectNode message = NODES.objectNode();
    // The chat template knows the system role; OpenAI's developer messages take its place.
    message.put("role", role.equals("developer") ? "system" : role);
    JsonNode content = item.get("content");
    if (content != null && content.isString()) {
      message.put("content", content.asString());
      return message;
    }
    if (content == null || !content.isArray()) {
      throw ApiException.badRequest(
          where + ".content must be a string or an array of text parts", where + ".content");
    }
    ArrayNode parts = message.putArray("content");
    for (int j = 0; j < content.size(); j++) {
      JsonNode part = content.get(j);
      String at = where + ".content[" + j + "]";
      if (!TEXT_PARTS.contains(part.path("type").asString("")) || !part.path("text").isString()) {
        throw ApiException.badRequest(
            at + " is not a text part ({type: input_text, text}); only text is supported", at);
      }
      parts.addObject().put("type", "text").put("text", part.get("text").asString());
    }
    return message;
  }

  /** A refusal of the chat the request became, told with the Responses API's field names. */
  private static ApiException inResponsesTerms(ApiException e) {
    String param = e.param();
    if (param == null) {
      return e;
    }
    String renamed =
        switch (param) {
          case "max_tokens" -> "max_output_tokens";
          case "messages" -> "input";
          default -> param;
        };
    return e.renamed(renamed, e.getMessage().replace("'max_tokens'", "'max_output_tokens'"));
  }
}
