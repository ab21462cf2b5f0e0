package io.disaggmoe.gateway.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.disaggmoe.gateway.core.ApiException;
import io.disaggmoe.gateway.core.ServedModel;
import io.disaggmoe.model.text.TextTokenizer;
import io.disaggmoe.model.text.TokenizerFiles;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import tools.jackson.databind.JsonNode;

/** Every field with OpenAI's meaning, and a 400 naming the field for every bad value. */
class OpenAiRequestParserTest {
  @TempDir static Path dir;
  static TextTokenizer tokenizer;
  static OpenAiRequestParser parser;

  @BeforeAll
  static void load() throws Exception {
    TokenizerFiles.copyDeepSeekV3(dir);
    tokenizer = TextTokenizer.load(dir);
    parser = new OpenAiRequestParser(new ServedModel("tiny", 64, 129280, tokenizer), 16);
  }

  @AfterAll
  static void close() {
    tokenizer.close();
  }

  static OpenAiRequest chat(String fields) {
    return parser.chat(
        body(
            "{\"model\": \"tiny\", \"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]"
                + fields
                + "}"));
  }

  static OpenAiRequest completion(String prompt, String fields) {
    return parser.completion(body("{\"model\": \"tiny\", \"prompt\": " + prompt + fields + "}"));
  }

  @Test
  void defaultsFollowOpenAi() {
    OpenAiRequest r = chat("");
    assertThat(r.n()).isEqualTo(1);
    assertThat(r.stream()).isFalse();
    assertThat(r.sampling().getTemperature()).isEqualTo(1.0);
    assertThat(r.sampling().getMaxTokens())
        .as("max_tokens defaults to what the context leaves")
        .isEqualTo(64 - r.prompts().getFirst().length);
    assertThat(completion("\"Hello\"", "").sampling().getMaxTokens())
        .as("a completion's max_tokens defaults to 16")
        .isEqualTo(16);
    assertThatThrownBy(() -> completion(IntStream.range(0, 60).boxed().toList().toString(), ""))
        .as("a prompt that leaves fewer than the default 16 tokens")
        .hasMessageContaining("60 in the prompt, 16 in the completion");
  }

  @Test
  void textOnlyToolAndFormatChoicesPass() {
    assertThat(
            chat(", \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\"}}],"
                    + " \"tool_choice\": \"none\", \"response_format\": {\"type\": \"text\"}")
                .n())
        .isEqualTo(1);
    assertThat(chat(", \"tools\": []").n()).isEqualTo(1);
  }

  @Test
  void continuingTheFinalMessageEndsThePromptInsideIt() {
    String started =
        "{\"model\": \"tiny\", \"messages\": [{\"role\": \"user\", \"content\": \"Hi\"},"
            + " {\"role\": \"assistant\", \"content\": \"Hello th\"}]";
    int[] continued =
        parser.chat(body(started + ", \"continue_final_message\": true}")).prompts().getFirst();
    assertThat(tokenizer.decode(continued, false))
        .isEqualTo("<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜>Hello th");
    int[] closed =
        parser.chat(body(started + ", \"add_generation_prompt\": false}")).prompts().getFirst();
    assertThat(tokenizer.decode(closed, false))
        .isEqualTo("<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜>Hello th<｜end▁of▁sentence｜>");
    assertThat(tokenizer.decode(parser.chat(body(started + "}")).prompts().getFirst(), false))
        .as("by default a new reply is opened")
        .endsWith("<｜end▁of▁sentence｜><｜Assistant｜>");
    OpenAiRequest echoed =
        parser.chat(body(started + ", \"continue_final_message\": true, \"echo\": true}"));
    assertThat(echoed.echo()).isTrue();
    assertThat(echoed.promptTexts()).containsExactly("Hello th");
    assertThat(chat(", \"echo\": true").echo())
        .as("echo repeats only an assistant's final message")
        .isFalse();
    assertThat(
            parser.tokenize(
                body(
                    started.replace("\"model\": \"tiny\", ", "")
                        + ", \"continue_final_message\": true}")))
        .containsExactly(continued);
  }

  @Test
  void templateVariablesAndSuffixFreeCompletionFieldsPass() {
    assertThat(chat(", \"chat_template_kwargs\": {\"thinking\": true}").prompts()).hasSize(1);
    assertThat(completion("\"Hi\"", ", \"suffix\": \"\", \"best_of\": 2, \"n\": 2").n())
        .isEqualTo(2);
    assertThat(completion("\"Hi\"", ", \"best_of\": 1").n()).isEqualTo(1);
    for (String[] refused :
        new String[][] {
          {", \"suffix\": \"return x\"", "suffix"},
          {", \"best_of\": 3", "best_of"},
          {", \"best_of\": 3, \"n\": 2", "best_of"},
          {", \"guided_regex\": \"[0-9]+\"", "guided_regex"},
          {", \"prompt_logprobs\": 0", "prompt_logprobs"},
        }) {
      assertThatThrownBy(() -> completion("\"Hi\"", refused[0]))
          .as(refused[0])
          .isInstanceOfSatisfying(
              ApiException.class, e -> assertThat(e.param()).isEqualTo(refused[1]));
    }
  }

  @Test
  void vllmsStopTokenIdsStopStringsAndTruncationReachTheStages() {
    OpenAiRequest r =
        chat(", \"stop_token_ids\": [7, 9], \"include_stop_str_in_output\": true, \"stop\": \"x\"");
    assertThat(r.sampling().getStopTokenIdsList()).containsExactly(7, 9);
    assertThat(r.sampling().getIncludeStopStrInOutput()).isTrue();
    assertThat(chat("").sampling().getIncludeStopStrInOutput()).isFalse();
    OpenAiRequest truncated =
        completion("[[1, 2, 3, 4, 5], \"Hello there, world\"]", ", \"truncate_prompt_tokens\": 3");
    assertThat(truncated.prompts().get(0)).containsExactly(3, 4, 5);
    int[] whole = tokenizer.encode("Hello there, world", true);
    assertThat(truncated.prompts().get(1))
        .containsExactly(java.util.Arrays.copyOfRange(whole, whole.length - 3, whole.length));
    assertThat(
            completion("\"" + "word ".repeat(80) + "\"", ", \"truncate_prompt_tokens\": 10")
                .prompts()
                .getFirst())
        .as("a prompt past the context, its start dropped")
        .hasSize(10);
    int[] chatIds = chat(", \"truncate_prompt_tokens\": 2").prompts().getFirst();
    assertThat(tokenizer.decode(chatIds, false)).isEqualTo("Hi<｜Assistant｜>");
    assertThat(completion("[1, 2]", ", \"truncate_prompt_tokens\": -1").prompts().getFirst())
        .containsExactly(1, 2);
    for (String[] refused :
        new String[][] {
          {", \"truncate_prompt_tokens\": 0", "truncate_prompt_tokens"},
          {", \"stop_token_ids\": [200000]", "stop_token_ids"},
          {", \"stop_token_ids\": 5", "stop_token_ids"},
          {", \"allowed_token_ids\": [1, 2]", "allowed_token_ids"},
          {", \"bad_words\": [\"no\"]", "bad_words"},
          {", \"use_beam_search\": true", "use_beam_search"},
        }) {
      assertThatThrownBy(() -> completion("\"Hi\"", refused[0]))
          .as(refused[0])
          .isInstanceOfSatisfying(
              ApiException.class, e -> assertThat(e.param()).isEqualTo(refused[1]));
    }
    assertThat(completion("\"Hi\"", ", \"allowed_token_ids\": [], \"use_beam_search\": false").n())
        .as("empty constraints ask for nothing")
        .isEqualTo(1);
  }

  @Test
  void workerIdsOnlyWhenNvextAsksForThem() {
    assertThat(chat("").workerIds()).isFalse();
    assertThat(chat(", \"nvext\": {}").workerIds()).isFalse();
    assertThat(chat(", \"nvext\": {\"extra_fields\": [\"timing\"]}").workerIds())
        .as("a name it does not serve is ignored")
        .isFalse();
    assertThat(chat(", \"nvext\": {\"extra_fields\": [\"timing\", \"worker_id\"]}").workerIds())
        .isTrue();
  }

  @Test
  void everyPromptFormOfCompletions() {
    assertThat(completion("\"Hello\"", "").prompts()).hasSize(1);
    assertThat(completion("[\"a\", \"b\", \"c\"]", "").prompts()).hasSize(3);
    assertThat(completion("[1, 2, 3]", "").prompts().getFirst()).containsExactly(1, 2, 3);
    OpenAiRequest lists = completion("[[1, 2], [3]]", ", \"n\": 2");
    assertThat(lists.prompts()).hasSize(2);
    assertThat(lists.choices()).isEqualTo(4);
  }

  @Test
  void samplingFieldsReachTheStages() {
    OpenAiRequest r =
        chat(
            ", \"max_completion_tokens\": 5, \"temperature\": 0.5, \"top_p\": 0.9, \"seed\": 7,"
                + " \"stop\": [\"x\", \"y\"], \"presence_penalty\": 1, \"frequency_penalty\": -1,"
                + " \"logit_bias\": {\"42\": -100}, \"top_k\": 5, \"min_p\": 0.1,"
                + " \"repetition_penalty\": 1.2, \"min_tokens\": 2, \"ignore_eos\": true,"
                + " \"logprobs\": true, \"top_logprobs\": 3, \"user\": \"u1\", \"stream\": true,"
                + " \"stream_options\": {\"include_usage\": true}");
    var s = r.sampling();
    assertThat(s.getMaxTokens()).isEqualTo(5);
    assertThat(s.getTemperature()).isEqualTo(0.5);
    assertThat(s.getTopP()).isEqualTo(0.9);
    assertThat(s.getSeed()).isEqualTo(7);
    assertThat(s.getStopList()).containsExactly("x", "y");
    assertThat(s.getLogitBiasMap()).containsEntry(42, -100f);
    assertThat(s.getTopK()).isEqualTo(5);
    assertThat(s.getMinTokens()).isEqualTo(2);
    assertThat(s.getIgnoreEos()).isTrue();
    assertThat(s.getTopLogprobs()).isEqualTo(3);
    assertThat(r.chatLogprobs()).isTrue();
    assertThat(r.includeUsage()).isTrue();
    assertThat(r.continuousUsage()).isFalse();
    assertThat(
            chat(", \"stream\": true, \"stream_options\": {\"include_usage\": true,"
                    + " \"continuous_usage_stats\": true}")
                .continuousUsage())
        .isTrue();
    assertThat(
            chat(", \"stream\": true, \"stream_options\": {\"continuous_usage_stats\": true}")
                .continuousUsage())
        .as("as vLLM, only beside include_usage")
        .isFalse();
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      value = {
        "n 17 | , \"n\": 17 | n",
        "n 0 | , \"n\": 0 | n",
        "max_tokens as a string | , \"max_tokens\": \"5\" | max_tokens",
        "negative max_tokens | , \"max_tokens\": -1 | max_tokens",
        "over the context | , \"max_tokens\": 100 | max_tokens",
        "temperature 3 | , \"temperature\": 3 | temperature",
        "top_p 0 | , \"top_p\": 0 | top_p",
        "top_logprobs 21 | , \"logprobs\": true, \"top_logprobs\": 21 | top_logprobs",
        "top_logprobs without logprobs | , \"top_logprobs\": 2 | top_logprobs",
        "five stops | , \"stop\": [\"a\", \"b\", \"c\", \"d\", \"e\"] | stop",
        "an empty stop | , \"stop\": \"\" | stop",
        "logit_bias 101 | , \"logit_bias\": {\"5\": 101} | logit_bias",
        "logit_bias key | , \"logit_bias\": {\"five\": 1} | logit_bias",
        "min_tokens over max | , \"max_tokens\": 2, \"min_tokens\": 3 | min_tokens",
        "stream_options alone | , \"stream_options\": {\"include_usage\": true} | stream_options",
        "seed 1.5 | , \"seed\": 1.5 | seed",
        "user 5 | , \"user\": 5 | user",
        "stream as a string | , \"stream\": \"yes\" | stream",
        "nvext a list | , \"nvext\": [\"worker_id\"] | nvext",
        "extra_fields a string | , \"nvext\": {\"extra_fields\": \"worker_id\"} | nvext.extra_fields",
        "extra_fields of numbers | , \"nvext\": {\"extra_fields\": [1]} | nvext.extra_fields",
        "tools | , \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\"}}] | tools",
        "tool_choice auto | , \"tool_choice\": \"auto\" | tool_choice",
        "json output | , \"response_format\": {\"type\": \"json_object\"} | response_format",
        "vLLM's guided_choice | , \"guided_choice\": [\"yes\", \"no\"] | guided_choice",
        "vLLM's guided_json | , \"guided_json\": {\"type\": \"object\"} | guided_json",
        "structured_outputs | , \"structured_outputs\": {\"regex\": \"a+\"} | structured_outputs",
        "prompt_logprobs | , \"prompt_logprobs\": 1 | prompt_logprobs",
        "a request's template | , \"chat_template\": \"{{ messages }}\" | chat_template",
        "kwargs a list | , \"chat_template_kwargs\": [1] | chat_template_kwargs",
        "add_generation_prompt a string | , \"add_generation_prompt\": \"no\" | add_generation_prompt",
        "continue a user message with a generation prompt | , \"continue_final_message\": true,"
            + " \"add_generation_prompt\": true | continue_final_message",
      })
  void aBadFieldIsA400NamingIt(String what, String fields, String param) {
    assertThatThrownBy(() -> chat(fields))
        .as(what)
        .isInstanceOfSatisfying(
            ApiException.class,
            e -> {
              assertThat(e.httpStatus()).isEqualTo(400);
              assertThat(e.param()).isEqualTo(param);
            });
  }

  @Test
  void theModelMustBeServedAndTheBodyAnObject() {
    assertThatThrownBy(
            () -> parser.chat(body("{\"model\": \"gpt-9\", \"messages\": [{\"role\": \"user\"}]}")))
        .isInstanceOfSatisfying(ApiException.class, e -> assertThat(e.httpStatus()).isEqualTo(404));
    assertThatThrownBy(() -> body("[1]"))
        .isInstanceOfSatisfying(ApiException.class, e -> assertThat(e.httpStatus()).isEqualTo(400));
    assertThatThrownBy(() -> completion("[1, 200000]", ""))
        .hasMessageContaining("prompt[1] is not a token id");
    assertThatThrownBy(() -> completion("\"" + "word ".repeat(80) + "\"", ""))
        .hasMessageContaining("maximum context length is 64");
  }

  private static JsonNode body(String json) {
    return OpenAiRequestParser.parseBody(json.getBytes(StandardCharsets.UTF_8));
  }
}
