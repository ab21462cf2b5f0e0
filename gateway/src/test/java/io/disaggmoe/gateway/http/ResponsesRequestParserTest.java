package io.disaggmoe.gateway.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.disaggmoe.gateway.core.ApiException;
import io.disaggmoe.gateway.core.ServedModel;
import io.disaggmoe.model.text.TextTokenizer;
import io.disaggmoe.model.text.TokenizerFiles;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The Responses API's request as the chat it amounts to, and a 400 naming each field it cannot. */
class ResponsesRequestParserTest {
  @TempDir static Path dir;
  static TextTokenizer tokenizer;
  static OpenAiRequestParser chats;
  static ResponsesRequestParser parser;

  @BeforeAll
  static void load() throws Exception {
    TokenizerFiles.copyDeepSeekV3(dir);
    tokenizer = TextTokenizer.load(dir);
    chats = new OpenAiRequestParser(new ServedModel("tiny", 64, 129280, tokenizer), 16);
    parser = new ResponsesRequestParser(chats);
  }

  @AfterAll
  static void close() {
    tokenizer.close();
  }

  static OpenAiRequest responses(String fields) {
    return parser.parse(
        OpenAiRequestParser.parseBody(
            ("{\"model\": \"tiny\"" + fields + "}").getBytes(StandardCharsets.UTF_8)));
  }

  static String prompt(OpenAiRequest r) {
    return tokenizer.decode(r.prompts().getFirst(), false);
  }

  @Test
  void instructionsAndInputBecomeTheChatsMessages() {
    OpenAiRequest r =
        responses(
            ", \"instructions\": \"Be brief.\", \"input\": \"Hi\", \"max_output_tokens\": 5,"
                + " \"temperature\": 0, \"store\": true, \"metadata\": {\"k\": \"v\"}");
    assertThat(prompt(r)).isEqualTo("<｜begin▁of▁sentence｜>Be brief.<｜User｜>Hi<｜Assistant｜>");
    assertThat(r.sampling().getMaxTokens()).isEqualTo(5);
    assertThat(r.sampling().getTemperature()).isZero();
    assertThat(r.n()).isEqualTo(1);
    assertThat(r.responses().maxOutputTokens()).isEqualTo(5);
    assertThat(r.responses().metadata().get("k").asString()).isEqualTo("v");
    OpenAiRequest items =
        responses(
            ", \"n\": 3, \"input\": [{\"role\": \"developer\", \"content\": \"Be brief.\"},"
                + " {\"type\": \"message\", \"role\": \"user\", \"content\": [{\"type\":"
                + " \"input_text\", \"text\": \"Hi\"}]}]");
    assertThat(prompt(items)).as("a developer message is the system's").isEqualTo(prompt(r));
    assertThat(items.n()).as("n is not a Responses field").isEqualTo(1);
    assertThat(items.responses().maxOutputTokens()).isNull();
    assertThat(items.sampling().getMaxTokens())
        .as("what the context leaves, as for a chat")
        .isEqualTo(64 - items.prompts().getFirst().length);
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      value = {
        "no input | | input",
        "input a number | , \"input\": 5 | input",
        "an image | , \"input\": [{\"role\": \"user\", \"content\": [{\"type\": \"input_image\","
            + " \"image_url\": \"x\"}]}] | input[0].content[0]",
        "a function call item | , \"input\": [{\"type\": \"function_call\", \"name\": \"f\"}] |"
            + " input[0]",
        "an unknown role | , \"input\": [{\"role\": \"wizard\", \"content\": \"x\"}] |"
            + " input[0].role",
        "a stored response | , \"input\": \"x\", \"previous_response_id\": \"resp_1\" |"
            + " previous_response_id",
        "a conversation | , \"input\": \"x\", \"conversation\": \"conv_1\" | conversation",
        "background | , \"input\": \"x\", \"background\": true | background",
        "json output | , \"input\": \"x\", \"text\": {\"format\": {\"type\": \"json_object\"}} |"
            + " text.format",
        "tools | , \"input\": \"x\", \"tools\": [{\"type\": \"web_search\"}] | tools",
        "logprobs | , \"input\": \"x\", \"top_logprobs\": 2 | top_logprobs",
        "over the context | , \"input\": \"x\", \"max_output_tokens\": 100 | max_output_tokens",
        "instructions a list | , \"input\": \"x\", \"instructions\": [1] | instructions",
        "metadata a string | , \"input\": \"x\", \"metadata\": \"m\" | metadata",
      })
  void whatItCannotServeIsA400NamingTheField(String what, String fields, String param) {
    assertThatThrownBy(() -> responses(fields == null ? "" : fields))
        .as(what)
        .isInstanceOfSatisfying(
            ApiException.class,
            e -> {
              assertThat(e.httpStatus()).isEqualTo(400);
              assertThat(e.param()).as(e.getMessage()).isEqualTo(param);
              assertThat(e.getMessage()).doesNotContain("'max_tokens'");
            });
  }
}
