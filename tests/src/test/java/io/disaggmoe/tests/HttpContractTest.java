package io.disaggmoe.tests;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The gateway's HTTP contract as a plain client sees it: one test per bad request (status and
 * OpenAI's error envelope, and the gateway serving normally afterwards), vLLM's tokenize and
 * detokenize, models, health and metrics.
 */
@ExtendWith(SharedSuite.class)
class HttpContractTest {
  static final HttpClient HTTP =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  static RunningSuite suite;

  @BeforeAll
  static void start(RunningSuite shared) {
    suite = shared;
  }

  static HttpResponse<String> post(String path, String key, String body) throws Exception {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(URI.create(suite.url() + path))
            .timeout(Duration.ofMinutes(1))
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body));
    if (key != null) {
      b.header("Authorization", "Bearer " + key);
    }
    return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  static HttpResponse<String> get(String path) throws Exception {
    return HTTP.send(
        HttpRequest.newBuilder(URI.create(suite.url() + path))
            .header("Authorization", "Bearer " + SharedSuite.KEY)
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  static Stream<Arguments> badRequests() {
    String k = SharedSuite.KEY;
    String chat = "/v1/chat/completions";
    String msgs = "\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]";
    String longPrompt = "[" + "1,".repeat(5000) + "1]";
    return Stream.of(
        Arguments.of("malformed JSON", chat, k, "{\"model\": \"tiny\", ", 400, null),
        Arguments.of(
            "wrong type",
            chat,
            k,
            "{\"model\": \"tiny\", " + msgs + ", \"max_tokens\": \"ten\"}",
            400,
            "max_tokens"),
        Arguments.of(
            "negative max_tokens",
            chat,
            k,
            "{\"model\": \"tiny\", " + msgs + ", \"max_tokens\": -1}",
            400,
            "max_tokens"),
        Arguments.of(
            "n too large", chat, k, "{\"model\": \"tiny\", " + msgs + ", \"n\": 17}", 400, "n"),
        Arguments.of(
            "top_logprobs 21",
            chat,
            k,
            "{\"model\": \"tiny\", " + msgs + ", \"logprobs\": true, \"top_logprobs\": 21}",
            400,
            "top_logprobs"),
        Arguments.of(
            "prompt over the context",
            "/v1/completions",
            k,
            "{\"model\": \"tiny\", \"prompt\": " + longPrompt + "}",
            400,
            "prompt"),
        Arguments.of(
            "a chat message of 7 MB, refused before it is tokenized",
            chat,
            k,
            "{\"model\": \"tiny\", \"messages\": [{\"role\": \"user\", \"content\": \""
                + "abcdefghij".repeat(700_000)
                + "\"}]}",
            400,
            "messages"),
        Arguments.of(
            "more sequences than the gateway runs at once (prompts x n)",
            "/v1/completions",
            k,
            "{\"model\": \"tiny\", \"n\": 2, \"prompt\": [" + "[1],".repeat(199) + "[1]]}",
            400,
            null),
        Arguments.of(
            "prompt + max_tokens over the context",
            chat,
            k,
            "{\"model\": \"tiny\", " + msgs + ", \"max_tokens\": 100000}",
            400,
            "max_tokens"),
        Arguments.of(
            "stream_options without stream",
            chat,
            k,
            "{\"model\": \"tiny\", " + msgs + ", \"stream_options\": {\"include_usage\": true}}",
            400,
            "stream_options"),
        Arguments.of(
            "nvext not an object",
            chat,
            k,
            "{\"model\": \"tiny\", " + msgs + ", \"nvext\": [\"worker_id\"]}",
            400,
            "nvext"),
        Arguments.of(
            "nvext.extra_fields not strings",
            chat,
            k,
            "{\"model\": \"tiny\", " + msgs + ", \"nvext\": {\"extra_fields\": [1]}}",
            400,
            "nvext.extra_fields"),
        Arguments.of(
            "unknown model", chat, k, "{\"model\": \"gpt-9\", " + msgs + "}", 404, "model"),
        Arguments.of("missing key", chat, null, "{\"model\": \"tiny\", " + msgs + "}", 401, null),
        Arguments.of(
            "wrong key", chat, "sk-wrong", "{\"model\": \"tiny\", " + msgs + "}", 401, null),
        Arguments.of(
            "body over the limit",
            chat,
            k,
            "{\"model\": \"tiny\", \"pad\": \"" + "x".repeat(9 << 20) + "\", " + msgs + "}",
            413,
            null),
        Arguments.of("unknown route", "/v1/nothing", k, "{}", 404, null));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("badRequests")
  void aBadRequestGetsItsStatusAndOpenAisEnvelope(
      String what, String path, String key, String body, int status, String param)
      throws Exception {
    HttpResponse<String> r = post(path, key, body);
    assertThat(r.statusCode()).as("%s: %s", what, r.body()).isEqualTo(status);
    JsonNode error = JsonMapper.shared().readTree(r.body()).get("error");
    assertThat(error).as("%s: the error envelope of %s", what, r.body()).isNotNull();
    assertThat(error.get("message").asString()).isNotBlank();
    assertThat(error.get("type").asString()).isNotBlank();
    assertThat(error.has("param")).isTrue();
    assertThat(error.has("code")).isTrue();
    if (param != null) {
      assertThat(error.get("param").asString()).as(what).isEqualTo(param);
    }
    // The gateway serves normally afterwards.
    HttpResponse<String> ok =
        post(
            "/v1/completions",
            SharedSuite.KEY,
            "{\"model\": \"tiny\", \"prompt\": \"ok\", \"max_tokens\": 2}");
    assertThat(ok.statusCode()).as(ok.body()).isEqualTo(200);
  }

  @Test
  void eachChoiceNamesTheInstancesThatServedItWhenAsked() throws Exception {
    List<String> prefills =
        suite.services("prefill").stream().map(s -> s.get("address").asString()).toList();
    List<String> decodes =
        suite.services("decode").stream().map(s -> s.get("address").asString()).toList();
    String ask = "\"nvext\": {\"extra_fields\": [\"worker_id\", \"timing\"]}";
    HttpResponse<String> whole =
        post(
            "/v1/completions",
            SharedSuite.KEY,
            "{\"model\": \"tiny\", \"prompt\": [\"one\", \"two\"], \"max_tokens\": 3, "
                + ask
                + "}");
    assertThat(whole.statusCode()).as(whole.body()).isEqualTo(200);
    JsonNode choices = JsonMapper.shared().readTree(whole.body()).get("choices");
    assertThat(choices).as(whole.body()).hasSize(2);
    for (JsonNode c : choices) {
      assertServedBy(c, prefills, decodes, whole.body());
    }

    HttpResponse<String> streamed =
        post(
            "/v1/chat/completions",
            SharedSuite.KEY,
            "{\"model\": \"tiny\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}],"
                + " \"max_tokens\": 3, \"stream\": true, "
                + ask
                + "}");
    List<JsonNode> chunks = new java.util.ArrayList<>();
    for (String line : streamed.body().split("\n")) {
      if (line.startsWith("data: {")) {
        chunks.add(JsonMapper.shared().readTree(line.substring(6)));
      }
    }
    assertThat(chunks).as(streamed.body()).isNotEmpty();
    for (JsonNode chunk : chunks) {
      JsonNode c = chunk.get("choices").get(0);
      if (c.get("finish_reason").isNull()) {
        assertThat(c.has("nvext")).as("a chunk before the last: %s", chunk).isFalse();
      } else {
        assertServedBy(c, prefills, decodes, streamed.body());
      }
    }

    HttpResponse<String> plain =
        post(
            "/v1/completions",
            SharedSuite.KEY,
            "{\"model\": \"tiny\", \"prompt\": \"one\", \"max_tokens\": 2}");
    assertThat(JsonMapper.shared().readTree(plain.body()).get("choices").get(0).has("nvext"))
        .as("not asked for: %s", plain.body())
        .isFalse();
  }

  private static void assertServedBy(
      JsonNode choice, List<String> prefills, List<String> decodes, String body) {
    JsonNode w = choice.path("nvext").path("worker_id");
    assertThat(w.isObject()).as("nvext.worker_id of choice %s in %s", choice, body).isTrue();
    assertThat(w.get("prefill_worker_id").asString()).as(body).isIn(prefills);
    assertThat(w.get("decode_worker_id").asString()).as(body).isIn(decodes);
    assertThat(w.get("decode_worker_ids")).as("no migration: %s", body).hasSize(1);
  }

  @Test
  void continuousUsageCountsEachChoiceChunkByChunk() throws Exception {
    HttpResponse<String> streamed =
        post(
            "/v1/completions",
            SharedSuite.KEY,
            "{\"model\": \"tiny\", \"prompt\": [[1, 2, 3], [4, 5]], \"n\": 2, \"max_tokens\": 4,"
                + " \"ignore_eos\": true, \"stream\": true, \"stream_options\":"
                + " {\"include_usage\": true, \"continuous_usage_stats\": true}}");
    assertThat(streamed.statusCode()).as(streamed.body()).isEqualTo(200);
    int[] seen = new int[4];
    JsonNode last = null;
    for (String line : streamed.body().split("\n")) {
      if (!line.startsWith("data: {")) {
        continue;
      }
      last = JsonMapper.shared().readTree(line.substring(6));
      if (last.get("choices").isEmpty()) {
        continue;
      }
      int index = last.get("choices").get(0).get("index").asInt();
      JsonNode usage = last.get("usage");
      assertThat(usage.get("prompt_tokens").asInt())
          .as("choice %d's prompt in %s", index, last)
          .isEqualTo(index < 2 ? 3 : 2);
      assertThat(usage.get("completion_tokens").asInt())
          .as("choice %d's tokens so far in %s", index, last)
          .isGreaterThan(seen[index]);
      seen[index] = usage.get("completion_tokens").asInt();
      assertThat(usage.get("total_tokens").asInt())
          .isEqualTo(usage.get("prompt_tokens").asInt() + seen[index]);
    }
    assertThat(seen).as("every choice's last count").containsExactly(4, 4, 4, 4);
    assertThat(last.get("usage").get("completion_tokens").asInt())
        .as("the final usage chunk counts the whole request: %s", last)
        .isEqualTo(16);
    assertThat(last.get("usage").get("prompt_tokens").asInt()).isEqualTo(5);
  }

  @Test
  void tokenizeAndDetokenizeRoundTrip() throws Exception {
    HttpResponse<String> t =
        post("/tokenize", SharedSuite.KEY, "{\"model\": \"tiny\", \"prompt\": \"Hello world\"}");
    assertThat(t.statusCode()).as(t.body()).isEqualTo(200);
    JsonNode tokens = JsonMapper.shared().readTree(t.body());
    assertThat(tokens.get("count").asInt()).isEqualTo(tokens.get("tokens").size());
    assertThat(tokens.get("max_model_len").asInt()).isEqualTo(4096);
    HttpResponse<String> d =
        post(
            "/detokenize",
            SharedSuite.KEY,
            "{\"model\": \"tiny\", \"tokens\": " + tokens.get("tokens") + "}");
    assertThat(JsonMapper.shared().readTree(d.body()).get("prompt").asString())
        .endsWith("Hello world");
    HttpResponse<String> chat =
        post(
            "/tokenize",
            SharedSuite.KEY,
            "{\"model\": \"tiny\", \"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}");
    assertThat(JsonMapper.shared().readTree(chat.body()).get("count").asInt())
        .isGreaterThan(tokens.get("count").asInt() - 2);
  }

  @Test
  void everyStageServesItsOwnMetrics() throws Exception {
    java.util.Map<String, List<String>> named =
        java.util.Map.of(
            "kv-cache", List.of("disaggmoe_kv_used_bytes{stage=\"kv-cache\"}"),
            "expert", List.of("disaggmoe_expert_passes_total{stage=\"expert\"}"),
            "prefill", List.of("disaggmoe_prefill_queued_tokens{stage=\"prefill\"}"),
            "decode",
                List.of(
                    "disaggmoe_decode_kv_free_bytes{stage=\"decode\"}",
                    "disaggmoe_decode_kv_held_bytes{stage=\"decode\"}"),
            "gateway", List.of("vllm:num_requests_running"));
    for (var role : named.entrySet()) {
      List<JsonNode> services = suite.services(role.getKey());
      assertThat(services).as(role.getKey()).isNotEmpty();
      for (JsonNode s : services) {
        String body =
            HTTP.send(
                    HttpRequest.newBuilder(
                            URI.create("http://" + s.get("metrics").asString() + "/metrics"))
                        .build(),
                    HttpResponse.BodyHandlers.ofString())
                .body();
        assertThat(body)
            .as("/metrics of %s at %s", role.getKey(), s.get("metrics"))
            .contains(role.getValue().toArray(String[]::new));
      }
    }
  }

  @Test
  void aRouteAnswersItsOwnMethodsAndOthersGet405() throws Exception {
    HttpResponse<String> wrong = get("/v1/completions");
    assertThat(wrong.statusCode()).as(wrong.body()).isEqualTo(405);
    assertThat(JsonMapper.shared().readTree(wrong.body()).get("error").get("message").asString())
        .contains("method not allowed");
    assertThat(post("/health", SharedSuite.KEY, "{}").statusCode()).isEqualTo(405);
    HttpResponse<String> head =
        HTTP.send(
            HttpRequest.newBuilder(URI.create(suite.url() + "/health"))
                .method("HEAD", HttpRequest.BodyPublishers.noBody())
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(head.statusCode()).isEqualTo(200);
    assertThat(head.body()).isEmpty();
    assertThat(get("/v1/models/tiny/more").statusCode()).isEqualTo(404);
    assertThat(get("/v1/models/").statusCode()).isEqualTo(404);
  }

  @Test
  void aWebPageOfAnyOriginMayCallTheApiAsVllmsDefaultLetsIt() throws Exception {
    HttpResponse<String> preflight =
        HTTP.send(
            HttpRequest.newBuilder(URI.create(suite.url() + "/v1/chat/completions"))
                .method("OPTIONS", HttpRequest.BodyPublishers.noBody())
                .header("Origin", "https://chat.example.org")
                .header("Access-Control-Request-Method", "POST")
                .header("Access-Control-Request-Headers", "authorization,content-type")
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(preflight.statusCode()).as(preflight.body()).isEqualTo(200);
    assertThat(preflight.headers().firstValue("Access-Control-Allow-Origin"))
        .hasValue("https://chat.example.org");
    HttpResponse<String> refused =
        HTTP.send(
            HttpRequest.newBuilder(URI.create(suite.url() + "/v1/chat/completions"))
                .header("Origin", "https://chat.example.org")
                .header("Authorization", "Bearer " + SharedSuite.KEY)
                .POST(HttpRequest.BodyPublishers.ofString("{}"))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(refused.statusCode()).as(refused.body()).isEqualTo(400);
    assertThat(refused.headers().firstValue("Access-Control-Allow-Origin"))
        .as("an error the page's script must be able to read")
        .hasValue("https://chat.example.org");
  }

  @Test
  void modelsHealthAndMetrics() throws Exception {
    JsonNode models = JsonMapper.shared().readTree(get("/v1/models").body());
    assertThat(models.get("data").get(0).get("id").asString()).isEqualTo("tiny");
    assertThat(models.get("data").get(0).get("max_model_len").asInt()).isEqualTo(4096);
    assertThat(get("/v1/models/tiny").statusCode()).isEqualTo(200);
    assertThat(get("/v1/models/other").statusCode()).isEqualTo(404);
    assertThat(get("/health").statusCode()).isEqualTo(200);
    post(
        "/v1/completions",
        SharedSuite.KEY,
        "{\"model\": \"tiny\", \"prompt\": \"m\", \"max_tokens\": 3}");
    String metrics = get("/metrics").body();
    for (String name :
        new String[] {
          "vllm:time_to_first_token_seconds_bucket",
          "vllm:inter_token_latency_seconds_bucket",
          "vllm:request_time_per_output_token_seconds_bucket",
          "vllm:e2e_request_latency_seconds_bucket",
          "vllm:num_requests_running",
          "vllm:num_requests_waiting",
          "vllm:kv_cache_usage_perc",
          "vllm:prefix_cache_queries_total",
          "vllm:prefix_cache_hits_total",
          "vllm:prompt_tokens_total",
          "vllm:generation_tokens_total",
          "vllm:request_success_total{finished_reason=\"length\",model_name=\"tiny\"}"
        }) {
      assertThat(metrics).as("/metrics names %s", name).contains(name);
    }
  }
}
