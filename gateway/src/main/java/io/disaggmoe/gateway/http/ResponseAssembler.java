package io.disaggmoe.gateway.http;

import io.disaggmoe.gateway.core.ApiException;
import io.disaggmoe.gateway.core.ServedModel;
import io.disaggmoe.proto.v1.SampledToken;
import io.disaggmoe.proto.v1.TokenLogprob;
import java.util.ArrayList;
import java.util.List;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.JsonNodeFactory;
import tools.jackson.databind.node.ObjectNode;

/**
 * Turns the events of a request's choices into OpenAI's JSON: one chunk per event when streaming
 * ({@code chat.completion.chunk} or {@code text_completion}), or one whole response at the end.
 * Signals arrive one at a time, so it keeps plain state.
 */
final class ResponseAssembler implements ReplyFormat {
  private static final JsonMapper JSON = JsonMapper.builder().build();
  private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

  private final OpenAiRequest request;
  private final ServedModel model;
  private final String id;
  private final long created;
  private final Choice[] choices;

  /** One choice's output so far. */
  private static final class Choice {
    final StringBuilder text = new StringBuilder();
    final List<SampledToken> tokens = new ArrayList<>();
    List<SampledToken> promptScores = List.of();
    final WorkerIds workers = new WorkerIds();
    int cachedTokens = -1;
    boolean started;
    String finish;
  }

  ResponseAssembler(OpenAiRequest request, ServedModel model, String id, long created) {
    this.request = request;
    this.model = model;
    this.id = id;
    this.created = created;
    this.choices = new Choice[request.choices()];
    for (int i = 0; i < choices.length; i++) {
      choices[i] = new Choice();
    }
  }

  @Override
  public WorkerIds workers(int index) {
    return choices[index].workers;
  }

  @Override
  public List<String> accept(ChoiceEvent e) {
    Choice c = choices[e.index()];
    if (e.isPrefilled()) {
      c.cachedTokens = e.cachedTokens();
      c.promptScores = e.tokens();
      return List.of();
    }
    String text = e.text();
    int offset = c.text.length();
    boolean echo = !c.started && request.echo();
    if (echo) {
      String prompt = request.promptTexts().get(e.index() / request.n());
      text = prompt + text;
      offset += prompt.length();
    }
    c.text.append(text);
    c.tokens.addAll(e.tokens());
    c.finish = e.finishName();
    boolean first = !c.started;
    c.started = true;
    if (!request.stream()) {
      return List.of();
    }
    ObjectNode choice = NODES.objectNode().put("index", e.index());
    if (request.chat()) {
      ObjectNode delta = choice.putObject("delta");
      if (first) {
        delta.put("role", "assistant");
      }
      delta.put("content", text);
      choice.set("logprobs", request.chatLogprobs() ? chatLogprobs(e.tokens()) : NODES.nullNode());
    } else {
      choice.put("text", text);
      choice.set(
          "logprobs",
          request.completionLogprobs() >= 0
              ? completionLogprobs(e.index(), echo, e.tokens(), offset)
              : NODES.nullNode());
    }
    choice.put("finish_reason", c.finish);
    if (c.finish != null) {
      workerIds(choice, c);
    }
    ObjectNode chunk = header(request.chat() ? "chat.completion.chunk" : "text_completion");
    chunk.putArray("choices").add(choice);
    if (request.continuousUsage()) {
      // As vLLM: the choice's own prompt and tokens so far.
      int prompt = request.prompts().get(e.index() / request.n()).length;
      chunk.set("usage", usage(prompt, c.tokens.size(), Math.max(0, c.cachedTokens)));
    } else if (request.includeUsage()) {
      chunk.putNull("usage");
    }
    return List.of(ReplyFormat.data(JSON.writeValueAsString(chunk)));
  }

  /**
   * {@code data: [DONE]}, after a last chunk with no choices and the whole request's usage when the
   * stream asked for usage.
   */
  @Override
  public List<String> end() {
    if (!request.includeUsage()) {
      return List.of(DONE);
    }
    ObjectNode chunk = header(request.chat() ? "chat.completion.chunk" : "text_completion");
    chunk.putArray("choices");
    chunk.set("usage", usage());
    return List.of(ReplyFormat.data(JSON.writeValueAsString(chunk)), DONE);
  }

  /** The one form of a late error the official SDKs raise mid-stream. */
  @Override
  public List<String> error(ApiException e) {
    return List.of(ReplyFormat.data(ErrorReplies.envelope(e)), DONE);
  }

  private static final String DONE = ReplyFormat.data("[DONE]");

  @Override
  public String response() {
    ObjectNode root = header(request.chat() ? "chat.completion" : "text_completion");
    ArrayNode list = root.putArray("choices");
    for (int i = 0; i < choices.length; i++) {
      Choice c = choices[i];
      ObjectNode choice = list.addObject().put("index", i);
      if (request.chat()) {
        ObjectNode message = choice.putObject("message");
        message.put("role", "assistant").put("content", c.text.toString()).putNull("refusal");
        choice.set("logprobs", request.chatLogprobs() ? chatLogprobs(c.tokens) : NODES.nullNode());
      } else {
        choice.put("text", c.text.toString());
        int echoed = request.echo() ? request.promptTexts().get(i / request.n()).length() : 0;
        choice.set(
            "logprobs",
            request.completionLogprobs() >= 0
                ? completionLogprobs(i, request.echo(), c.tokens, echoed)
                : NODES.nullNode());
      }
      choice.put("finish_reason", c.finish);
      workerIds(choice, c);
    }
    root.set("usage", usage());
    return JSON.writeValueAsString(root);
  }

  /**
   * Dynamo's {@code nvext.worker_id}, when asked for, beside the choice's finish reason: each
   * choice of a request (its prompts times {@code n}) is routed on its own.
   */
  private void workerIds(ObjectNode choice, Choice c) {
    if (request.workerIds()) {
      choice.putObject("nvext").set("worker_id", c.workers.json());
    }
  }

  @Override
  public List<String> finishReasons() {
    List<String> out = new ArrayList<>();
    for (Choice c : choices) {
      if (c.finish != null) {
        out.add(c.finish);
      }
    }
    return out;
  }

  @Override
  public int completionTokens() {
    int n = 0;
    for (Choice c : choices) {
      n += c.tokens.size();
    }
    return n;
  }

  @Override
  public int promptTokens() {
    int n = 0;
    for (int[] p : request.prompts()) {
      n += p.length;
    }
    return n;
  }

  /** Prompt tokens served from the prefix cache, counted once per prompt (its first choice). */
  int cachedTokens() {
    int n = 0;
    for (int p = 0; p < request.prompts().size(); p++) {
      n += Math.max(0, choices[p * request.n()].cachedTokens);
    }
    return n;
  }

  private ObjectNode usage() {
    return usage(promptTokens(), completionTokens(), cachedTokens());
  }

  private static ObjectNode usage(int prompt, int completion, int cached) {
    ObjectNode u = NODES.objectNode();
    u.put("prompt_tokens", prompt);
    u.put("completion_tokens", completion);
    u.put("total_tokens", prompt + completion);
    u.putObject("prompt_tokens_details").put("cached_tokens", cached);
    return u;
  }

  private ObjectNode header(String object) {
    ObjectNode n = NODES.objectNode();
    n.put("id", id);
    n.put("object", object);
    n.put("created", created);
    n.put("model", request.model());
    return n;
  }

  private ObjectNode chatLogprobs(List<SampledToken> tokens) {
    ObjectNode lp = NODES.objectNode();
    ArrayNode content = lp.putArray("content");
    for (SampledToken t : tokens) {
      ObjectNode entry = tokenEntry(t.getTokenId(), t.getLogprob());
      ArrayNode top = entry.putArray("top_logprobs");
      for (TokenLogprob alt : t.getTopLogprobsList()) {
        top.add(tokenEntry(alt.getTokenId(), alt.getLogprob()));
      }
      content.add(entry);
    }
    lp.putNull("refusal");
    return lp;
  }

  private ObjectNode tokenEntry(int tokenId, float logprob) {
    ObjectNode e = NODES.objectNode();
    e.put("token", model.tokenText(tokenId));
    e.put("logprob", logprob);
    ArrayNode bytes = e.putArray("bytes");
    for (byte b : model.tokenBytes(tokenId)) {
      bytes.add(b & 0xff);
    }
    return e;
  }

  /**
   * The legacy completions form: parallel lists, and each token's offset in the choice's text. With
   * {@code echo} the prompt's tokens come first, the first without a log probability (nothing comes
   * before it), as OpenAI's and vLLM's servers give them.
   */
  private ObjectNode completionLogprobs(
      int index, boolean echo, List<SampledToken> tokens, int offset) {
    ObjectNode lp = NODES.objectNode();
    ArrayNode names = lp.putArray("tokens");
    ArrayNode values = lp.putArray("token_logprobs");
    ArrayNode tops = lp.putArray("top_logprobs");
    ArrayNode offsets = lp.putArray("text_offset");
    if (echo) {
      int[] prompt = request.prompts().get(index / request.n());
      List<SampledToken> scores = choices[index].promptScores;
      int at = 0;
      for (int p = 0; p < prompt.length; p++) {
        String token = model.tokenText(prompt[p]);
        names.add(token);
        if (p == 0 || p > scores.size()) {
          values.addNull();
          tops.addNull();
        } else {
          SampledToken t = scores.get(p - 1);
          values.add(t.getLogprob());
          ObjectNode top = tops.addObject();
          for (TokenLogprob alt : t.getTopLogprobsList()) {
            top.put(model.tokenText(alt.getTokenId()), alt.getLogprob());
          }
        }
        offsets.add(at);
        // The echoed prompt is the prompt's own text, which has no special token's text (BOS).
        at += model.tokenizer().isSpecial(prompt[p]) ? 0 : token.length();
      }
    }
    int at = offset;
    for (SampledToken t : tokens) {
      String token = model.tokenText(t.getTokenId());
      names.add(token);
      values.add(t.getLogprob());
      ObjectNode top = tops.addObject();
      for (TokenLogprob alt : t.getTopLogprobsList()) {
        top.put(model.tokenText(alt.getTokenId()), alt.getLogprob());
      }
      offsets.add(at);
      at += token.length();
    }
    return lp;
  }
}
