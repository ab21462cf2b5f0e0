package io.disaggmoe.gateway.http;

import io.disaggmoe.gateway.core.ApiException;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.JsonNodeFactory;
import tools.jackson.databind.node.ObjectNode;

/**
 * The Responses API's reply to a request's one choice: a {@code response} object whose output is
 * one assistant message of text, or, streaming, its typed events in OpenAI's order ({@code
 * response.created}, {@code response.in_progress}, {@code response.output_item.added}, {@code
 * response.content_part.added}, {@code response.output_text.delta} per chunk, then the {@code
 * .done} events and {@code response.completed}, or {@code response.incomplete} when {@code
 * max_output_tokens} cut the text), each numbered by {@code sequence_number}. Nothing is stored:
 * the reply says {@code store: false}.
 */
final class ResponsesAssembler implements ReplyFormat {
  private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

  private final OpenAiRequest request;
  private final String id;
  private final long created;
  private final String itemId = "msg_" + UUID.randomUUID().toString().replace("-", "");
  private final WorkerIds workers = new WorkerIds();
  private final StringBuilder text = new StringBuilder();
  private int tokens;
  private int cachedTokens;
  private String finish;
  private boolean started;
  private int sequence;

  ResponsesAssembler(OpenAiRequest request, String id, long created) {
    this.request = request;
    this.id = id;
    this.created = created;
  }

  @Override
  public WorkerIds workers(int index) {
    return workers;
  }

  @Override
  public List<String> accept(ChoiceEvent e) {
    if (e.isPrefilled()) {
      cachedTokens = Math.max(0, e.cachedTokens());
      return List.of();
    }
    text.append(e.text());
    tokens += e.tokens().size();
    finish = e.finishName();
    if (!request.stream()) {
      return List.of();
    }
    List<String> frames = new ArrayList<>();
    if (!started) {
      started = true;
      frames.add(event("response.created", n -> n.set("response", response("in_progress"))));
      frames.add(event("response.in_progress", n -> n.set("response", response("in_progress"))));
      frames.add(
          event(
              "response.output_item.added",
              n -> n.put("output_index", 0).set("item", message("in_progress", false))));
      frames.add(event("response.content_part.added", n -> part(n).set("part", textPart(""))));
    }
    if (!e.text().isEmpty()) {
      frames.add(
          event(
              "response.output_text.delta",
              n -> part(n).put("delta", e.text()).putArray("logprobs")));
    }
    return frames;
  }

  @Override
  public List<String> end() {
    String status = status();
    return List.of(
        event(
            "response.output_text.done",
            n -> part(n).put("text", text.toString()).putArray("logprobs")),
        event("response.content_part.done", n -> part(n).set("part", textPart(text.toString()))),
        event(
            "response.output_item.done",
            n -> n.put("output_index", 0).set("item", message(status, true))),
        event(
            status.equals("completed") ? "response.completed" : "response.incomplete",
            n -> n.set("response", response(status))));
  }

  @Override
  public List<String> error(ApiException e) {
    return List.of(
        event(
            "error",
            n ->
                n.put("code", e.code() == null ? e.type() : e.code())
                    .put("message", e.getMessage())
                    .put("param", e.param())));
  }

  @Override
  public String response() {
    return response(status()).toString();
  }

  @Override
  public int promptTokens() {
    return request.prompts().getFirst().length;
  }

  @Override
  public int completionTokens() {
    return tokens;
  }

  @Override
  public List<String> finishReasons() {
    return finish == null ? List.of() : List.of(finish);
  }

  /** A text cut by the token limit is incomplete, as OpenAI reports it. */
  private String status() {
    return "length".equals(finish) ? "incomplete" : "completed";
  }

  private interface Fields {
    void fill(ObjectNode event);
  }

  private String event(String type, Fields fields) {
    ObjectNode n = NODES.objectNode().put("type", type).put("sequence_number", sequence++);
    fields.fill(n);
    return "event: " + type + "\ndata: " + n + "\n\n";
  }

  private ObjectNode part(ObjectNode event) {
    return event.put("item_id", itemId).put("output_index", 0).put("content_index", 0);
  }

  private static ObjectNode textPart(String text) {
    ObjectNode part = NODES.objectNode().put("type", "output_text").put("text", text);
    part.putArray("annotations");
    part.putArray("logprobs");
    return part;
  }

  private ObjectNode message(String status, boolean withText) {
    ObjectNode item =
        NODES
            .objectNode()
            .put("id", itemId)
            .put("type", "message")
            .put("status", status)
            .put("role", "assistant");
    ArrayNode content = item.putArray("content");
    if (withText) {
      content.add(textPart(text.toString()));
    }
    return item;
  }

  private ObjectNode response(String status) {
    ResponsesOptions options = request.responses();
    boolean done = !status.equals("in_progress");
    ObjectNode r =
        NODES
            .objectNode()
            .put("id", id)
            .put("object", "response")
            .put("created_at", created)
            .put("status", status)
            .put("background", false)
            .putNull("error");
    if (status.equals("incomplete")) {
      r.putObject("incomplete_details").put("reason", "max_output_tokens");
    } else {
      r.putNull("incomplete_details");
    }
    r.put("instructions", options.instructions());
    r.put("max_output_tokens", options.maxOutputTokens());
    r.put("model", request.model());
    ArrayNode output = r.putArray("output");
    if (done) {
      output.add(message(status, true));
    }
    r.put("parallel_tool_calls", false);
    r.putNull("previous_response_id");
    r.putObject("reasoning").putNull("effort").putNull("summary");
    r.put("store", false);
    r.put("temperature", request.sampling().getTemperature());
    r.putObject("text").putObject("format").put("type", "text");
    r.put("tool_choice", "none");
    r.putArray("tools");
    r.put("top_p", request.sampling().getTopP());
    r.put("truncation", "disabled");
    if (done) {
      int prompt = promptTokens();
      ObjectNode usage = r.putObject("usage").put("input_tokens", prompt);
      usage.putObject("input_tokens_details").put("cached_tokens", cachedTokens);
      usage.put("output_tokens", tokens);
      usage.putObject("output_tokens_details").put("reasoning_tokens", 0);
      usage.put("total_tokens", prompt + tokens);
    } else {
      r.putNull("usage");
    }
    r.put("user", options.user());
    r.set("metadata", options.metadata());
    return r;
  }
}
