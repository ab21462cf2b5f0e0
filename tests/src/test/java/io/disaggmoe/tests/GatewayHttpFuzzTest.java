package io.disaggmoe.tests;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.extension.ExtendWith;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.JsonNodeFactory;
import tools.jackson.databind.node.ObjectNode;

/**
 * Hostile bodies against the gateway's OpenAI routes of a running {@code up --processes} suite,
 * over real HTTP: every field the routes read (and some they do not) with values of the wrong type,
 * out of range, empty, huge or nested, messages and input items of every shape, streamed or not, or
 * bytes that are not JSON at all. Every request must end with a 200 (a stream that ends as its
 * format ends, with no error event) or a 4xx carrying OpenAI's error envelope, never a 5xx;
 * afterwards the gateway is healthy, a greedy request gives the text it gave before, and every
 * stage is idle. The gateway runs in another process, so the fuzzer mutates without its coverage.
 */
@ExtendWith(SharedSuite.class)
class GatewayHttpFuzzTest {
  private static final List<String> ROUTES =
      List.of(
          "/v1/chat/completions", "/v1/completions", "/v1/responses", "/tokenize", "/detokenize");

  /** Fields the routes read, vLLM's and the Responses API's among them, and one they do not. */
  private static final List<String> FIELDS =
      List.of(
          "messages",
          "prompt",
          "input",
          "instructions",
          "tokens",
          "max_tokens",
          "max_completion_tokens",
          "max_output_tokens",
          "n",
          "stream",
          "stream_options",
          "temperature",
          "top_p",
          "top_k",
          "min_p",
          "seed",
          "stop",
          "stop_token_ids",
          "include_stop_str_in_output",
          "logprobs",
          "top_logprobs",
          "echo",
          "logit_bias",
          "presence_penalty",
          "frequency_penalty",
          "repetition_penalty",
          "min_tokens",
          "ignore_eos",
          "skip_special_tokens",
          "truncate_prompt_tokens",
          "add_generation_prompt",
          "continue_final_message",
          "chat_template_kwargs",
          "tools",
          "tool_choice",
          "response_format",
          "text",
          "metadata",
          "user",
          "nvext",
          "best_of",
          "suffix",
          "previous_response_id",
          "store",
          "unknown_field");

  private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
  private static final Map<String, Integer> STATUSES = new ConcurrentHashMap<>();
  private static RunningSuite suite;
  private static HttpClient http;
  private static String before;

  @BeforeAll
  static void start(RunningSuite shared) throws Exception {
    suite = shared;
    http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    before = greedyText();
  }

  @FuzzTest(maxExecutions = 10_000)
  void hostileBodiesGetAnAnswerOrAClientErrorNeverAServerError(FuzzedDataProvider data)
      throws Exception {
    String route = data.pickValue(ROUTES);
    String body;
    if (data.consumeBoolean()) {
      body = data.consumeString(200);
    } else {
      // Short answers unless a field below says otherwise: an accepted request ends quickly.
      ObjectNode root = NODES.objectNode().put("max_tokens", 3).put("max_output_tokens", 3);
      if (data.consumeInt(0, 9) > 0) {
        root.put("model", data.consumeInt(0, 9) > 0 ? "tiny" : data.consumeString(10));
      }
      if (data.consumeInt(0, 4) > 0) {
        // The route's own input, so that most requests get past the first check.
        String input =
            switch (route) {
              case "/v1/chat/completions" -> "messages";
              case "/v1/responses" -> "input";
              case "/detokenize" -> "tokens";
              default -> "prompt";
            };
        root.set(input, value(input, data, 1));
      }
      int fields = data.consumeInt(0, 4);
      for (int i = 0; i < fields; i++) {
        String field = data.pickValue(FIELDS);
        root.set(field, value(field, data, 0));
      }
      body = root.toString();
    }
    HttpResponse<String> r =
        http.send(
            HttpRequest.newBuilder(URI.create(suite.url() + route))
                .timeout(Duration.ofMinutes(2))
                .header("Authorization", "Bearer " + SharedSuite.KEY)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    STATUSES.merge(route + " " + r.statusCode(), 1, Integer::sum);
    String what = route + " " + body + " -> " + r.statusCode() + " " + r.body();
    assertThat(r.statusCode()).as(what).isIn(200, 400, 404, 413);
    if (r.statusCode() != 200) {
      JsonNode error = JsonMapper.shared().readTree(r.body()).path("error");
      assertThat(error.path("message").isString()).as("OpenAI's error envelope: %s", what).isTrue();
    } else if (r.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream")) {
      assertThat(r.body())
          .as("a stream that ends as its format ends: %s", what)
          .containsAnyOf("data: [DONE]", "event: response.completed", "event: response.incomplete")
          .doesNotContain("data: {\"error\"", "event: error");
    }
  }

  /**
   * A hostile value for {@code field}: mostly of a plausible shape (so that requests get past the
   * first check), often not. Token counts stay small or out of range, so that a request that is
   * accepted ends quickly.
   */
  private static JsonNode value(String field, FuzzedDataProvider data, int depth) {
    int shape = data.consumeInt(0, 5);
    if (shape == 0 || depth > 3) {
      return anyValue(data, depth);
    }
    return switch (field) {
      case "messages" -> messages(data, depth);
      case "input" ->
          data.consumeBoolean() ? NODES.stringNode(data.consumeString(40)) : messages(data, depth);
      case "prompt", "tokens", "stop_token_ids" ->
          data.consumeBoolean() ? NODES.stringNode(data.consumeString(40)) : ids(data);
      case "max_tokens", "max_completion_tokens", "max_output_tokens", "n", "top_logprobs" ->
          NODES.numberNode(data.pickValue(new int[] {0, 1, 2, 3, -1, 17, 21, 5000, 1 << 30}));
      case "stream",
          "echo",
          "logprobs",
          "ignore_eos",
          "include_stop_str_in_output",
          "add_generation_prompt",
          "continue_final_message",
          "skip_special_tokens",
          "store" ->
          NODES.booleanNode(data.consumeBoolean());
      case "stream_options" ->
          NODES
              .objectNode()
              .put("include_usage", data.consumeBoolean())
              .put("continuous_usage_stats", data.consumeBoolean());
      case "logit_bias" ->
          NODES.objectNode().put(String.valueOf(data.consumeInt()), data.consumeDouble());
      case "chat_template_kwargs", "metadata", "nvext", "text", "response_format" -> {
        ObjectNode o = NODES.objectNode();
        o.set(data.consumeString(8), anyValue(data, depth + 1));
        yield o;
      }
      default ->
          data.consumeBoolean()
              ? NODES.numberNode(data.consumeInt(0, 20) / 10.0)
              : NODES.numberNode(data.consumeDouble());
    };
  }

  private static JsonNode messages(FuzzedDataProvider data, int depth) {
    ArrayNode list = NODES.arrayNode();
    int n = data.consumeInt(0, 3);
    for (int i = 0; i < n; i++) {
      ObjectNode m = list.addObject();
      m.put(
          "role",
          i == n - 1 && data.consumeBoolean()
              ? "user"
              : data.pickValue(List.of("user", "assistant", "system", "developer", "x")));
      if (data.consumeBoolean()) {
        m.put("content", data.consumeString(60));
      } else {
        ArrayNode parts = m.putArray("content");
        parts
            .addObject()
            .put("type", data.pickValue(List.of("text", "input_text", "output_text", "image")))
            .set("text", data.consumeBoolean() ? NODES.stringNode("hi") : anyValue(data, depth));
      }
      if (data.consumeBoolean()) {
        m.put("type", data.pickValue(List.of("message", "function_call", "reasoning")));
      }
    }
    return list;
  }

  private static ArrayNode ids(FuzzedDataProvider data) {
    ArrayNode ids = NODES.arrayNode();
    int n = data.consumeInt(0, 6);
    for (int i = 0; i < n; i++) {
      ids.add(data.consumeBoolean() ? data.consumeInt(0, 200_000) : data.consumeInt());
    }
    return ids;
  }

  private static JsonNode anyValue(FuzzedDataProvider data, int depth) {
    return switch (data.consumeInt(0, depth > 2 ? 4 : 6)) {
      case 0 -> NODES.nullNode();
      case 1 -> NODES.booleanNode(data.consumeBoolean());
      case 2 -> NODES.numberNode(data.consumeLong());
      case 3 -> NODES.numberNode(data.consumeDouble());
      case 4 -> NODES.stringNode(data.consumeString(30));
      case 5 -> {
        ArrayNode a = NODES.arrayNode();
        a.add(anyValue(data, depth + 1));
        yield a;
      }
      default -> {
        ObjectNode o = NODES.objectNode();
        o.set(data.consumeString(6), anyValue(data, depth + 1));
        yield o;
      }
    };
  }

  private static String greedyText() throws Exception {
    HttpResponse<String> r =
        http.send(
            HttpRequest.newBuilder(URI.create(suite.url() + "/v1/completions"))
                .header("Authorization", "Bearer " + SharedSuite.KEY)
                .header("Content-Type", "application/json")
                .POST(
                    HttpRequest.BodyPublishers.ofString(
                        "{\"model\": \"tiny\", \"prompt\": \"The fuzz suite checks that\","
                            + " \"max_tokens\": 8, \"temperature\": 0, \"ignore_eos\": true}"))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    return JsonMapper.shared().readTree(r.body()).path("choices").get(0).path("text").asString();
  }

  @AfterAll
  static void afterwardsTheSuiteServesExactlyAsBefore() throws Exception {
    System.out.println(
        "gateway HTTP fuzz, requests by route and status: " + new TreeMap<>(STATUSES));
    HttpResponse<String> health =
        http.send(
            HttpRequest.newBuilder(URI.create(suite.url() + "/health")).build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(health.statusCode()).as(health.body()).isEqualTo(200);
    assertThat(greedyText()).as("the greedy text after the hostile requests").isEqualTo(before);
    assertThat(StageStates.awaitIdle(suite, http, 30))
        .as("every stage after the hostile requests")
        .isEqualTo("idle");
  }
}
