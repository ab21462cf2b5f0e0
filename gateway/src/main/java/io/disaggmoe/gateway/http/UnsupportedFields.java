package io.disaggmoe.gateway.http;

import static io.disaggmoe.gateway.http.OpenAiRequestParser.present;

import io.disaggmoe.gateway.core.ApiException;
import java.util.List;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.JsonNodeFactory;

/**
 * The request fields a completion or chat may not carry here, each refused with a 400 naming it.
 */
final class UnsupportedFields {
  private UnsupportedFields() {}

  /**
   * Fields whose meaning this server cannot give: a client that asks for them gets a 400 rather
   * than an answer it would take for theirs. Tool calls and structured output, OpenAI's ({@code
   * tools}, {@code tool_choice}, {@code response_format}) and vLLM's ({@code guided_*}, {@code
   * structured_outputs}), as vLLM refuses tool calls when no tool parser is configured ({@code
   * tool_choice: "none"} and {@code response_format: {"type": "text"}} ask for nothing more than
   * text and pass); a request's own chat template; vLLM's {@code prompt_logprobs} (a completion's
   * {@code echo} with {@code logprobs} scores the prompt), its sampling constraints ({@code
   * allowed_token_ids}, {@code bad_words}, {@code logits_processors}) and beam search; a
   * completion's {@code suffix} and a {@code best_of} other than {@code n}, which vLLM refuses too.
   */
  static void refuse(JsonNode body, boolean chat) {
    JsonNode tools = body.get("tools");
    JsonNode choice = body.get("tool_choice");
    boolean none = choice != null && choice.isString() && choice.asString().equals("none");
    if (present(tools) && !tools.isEmpty() && !none) {
      throw ApiException.badRequest(
          "tool calling is not supported by this server; send 'tool_choice': 'none' to have the"
              + " messages answered in text",
          "tools");
    }
    if (present(choice) && !none) {
      throw ApiException.badRequest(
          "tool calling is not supported by this server; 'tool_choice' may only be 'none'",
          "tool_choice");
    }
    JsonNode format = body.get("response_format");
    if (present(format) && !format.path("type").asString("").equals("text")) {
      throw ApiException.badRequest(
          "structured output is not supported by this server; 'response_format' may only be"
              + " {\"type\": \"text\"}",
          "response_format");
    }
    for (String guided : GUIDED_DECODING) {
      if (present(body.get(guided))) {
        throw ApiException.badRequest(
            "structured output is not supported by this server; '" + guided + "' cannot be met",
            guided);
      }
    }
    if (present(body.get("prompt_logprobs"))) {
      throw ApiException.badRequest(
          "'prompt_logprobs' is not supported by this server"
              + (chat ? "" : "; 'echo' with 'logprobs' scores the prompt's tokens"),
          "prompt_logprobs");
    }
    if (chat && present(body.get("chat_template"))) {
      throw ApiException.badRequest(
          "'chat_template' is not accepted: prompts are rendered with the model's own template",
          "chat_template");
    }
    for (String constraint : List.of("allowed_token_ids", "bad_words", "logits_processors")) {
      JsonNode c = body.get(constraint);
      if (present(c) && !c.isEmpty()) {
        throw ApiException.badRequest(
            "'" + constraint + "' is not supported by this server", constraint);
      }
    }
    JsonNode beam = body.get("use_beam_search");
    if (present(beam) && !(beam.isBoolean() && !beam.asBoolean())) {
      throw ApiException.badRequest(
          "beam search is not supported by this server", "use_beam_search");
    }
    JsonNode suffix = body.get("suffix");
    if (!chat && present(suffix) && !suffix.asString("x").isEmpty()) {
      throw ApiException.badRequest("'suffix' is not supported by this server", "suffix");
    }
    JsonNode bestOf = body.get("best_of");
    JsonNode n = body.get("n");
    if (!chat && present(bestOf) && !bestOf.equals(present(n) ? n : ONE)) {
      throw ApiException.badRequest(
          "'best_of' is not supported by this server; it may only equal 'n'", "best_of");
    }
  }

  private static final List<String> GUIDED_DECODING =
      List.of(
          "guided_json", "guided_regex", "guided_choice", "guided_grammar", "structured_outputs");

  private static final JsonNode ONE = JsonNodeFactory.instance.numberNode(1);
}
