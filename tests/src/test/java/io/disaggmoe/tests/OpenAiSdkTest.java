package io.disaggmoe.tests;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.JsonValue;
import com.openai.core.http.StreamResponse;
import com.openai.errors.RateLimitException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionChoice;
import com.openai.models.completions.CompletionCreateParams;
import com.openai.models.responses.Response;
import com.openai.models.responses.ResponseCreateParams;
import com.openai.models.responses.ResponseStreamEvent;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The suite as real processes ({@code disaggmoe up --processes}: gateway, prefill, decode,
 * kv-cache-service and 2 expert pools), driven by the official OpenAI Java SDK, unchanged.
 */
@ExtendWith(SharedSuite.class)
class OpenAiSdkTest {
  static final String KEY = SharedSuite.KEY;
  static final String SMALL_QUOTA_KEY = SharedSuite.SMALL_QUOTA_KEY;

  static RunningSuite suite;
  static OpenAIClient client;

  @BeforeAll
  static void start(RunningSuite shared) {
    suite = shared;
    client =
        OpenAIOkHttpClient.builder()
            .baseUrl(suite.url() + "/v1")
            .apiKey(KEY)
            .timeout(Duration.ofMinutes(2))
            .maxRetries(0)
            .build();
  }

  static ChatCompletionCreateParams.Builder greedyChat(String content, int maxTokens) {
    return greedyChat(content).maxCompletionTokens(maxTokens);
  }

  /** Greedy, past EOS, with the server's default max_tokens. */
  static ChatCompletionCreateParams.Builder greedyChat(String content) {
    return ChatCompletionCreateParams.builder()
        .model("tiny")
        .addUserMessage(content)
        .temperature(0.0)
        .putAdditionalBodyProperty("ignore_eos", JsonValue.from(true));
  }

  /** Greedy, past EOS, with the server's default max_tokens. */
  static CompletionCreateParams.Builder greedyCompletion(String prompt) {
    return CompletionCreateParams.builder()
        .model("tiny")
        .prompt(prompt)
        .temperature(0.0)
        .putAdditionalBodyProperty("ignore_eos", JsonValue.from(true));
  }

  @Test
  void chatStreamedEqualsChatWhole() {
    ChatCompletion whole =
        client.chat().completions().create(greedyChat("Hello there!", 12).build());
    assertThat(whole.choices()).hasSize(1);
    String text = whole.choices().getFirst().message().content().orElseThrow();
    assertThat(whole.choices().getFirst().finishReason().asString()).isEqualTo("length");
    var usage = whole.usage().orElseThrow();
    assertThat(usage.completionTokens()).isEqualTo(12);
    assertThat(usage.totalTokens()).isEqualTo(usage.promptTokens() + 12);

    StringBuilder streamed = new StringBuilder();
    List<ChatCompletionChunk> chunks = new ArrayList<>();
    try (StreamResponse<ChatCompletionChunk> s =
        client
            .chat()
            .completions()
            .createStreaming(
                greedyChat("Hello there!", 12)
                    .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build())
                    .build())) {
      s.stream().forEach(chunks::add);
    }
    for (ChatCompletionChunk c : chunks) {
      c.choices().forEach(ch -> ch.delta().content().ifPresent(streamed::append));
    }
    assertThat(streamed.toString()).as("streamed deltas").isEqualTo(text);
    assertThat(chunks.getFirst().choices().getFirst().delta().role())
        .as("the first delta carries the role")
        .isPresent();
    assertThat(
            chunks.stream()
                .flatMap(c -> c.choices().stream())
                .filter(ch -> ch.finishReason().isPresent())
                .count())
        .as("chunks carrying finish_reason")
        .isEqualTo(1);
    ChatCompletionChunk last = chunks.getLast();
    assertThat(last.choices()).as("the usage chunk has no choices").isEmpty();
    assertThat(last.usage().orElseThrow().completionTokens()).isEqualTo(12);
    assertThat(last.usage().orElseThrow().promptTokens()).isEqualTo(usage.promptTokens());
    assertThat(
            last.usage()
                .orElseThrow()
                .promptTokensDetails()
                .orElseThrow()
                .cachedTokens()
                .orElseThrow())
        .as("the second identical prompt finds its blocks in the cache only past a full block")
        .isGreaterThanOrEqualTo(0);
  }

  @Test
  void withoutMaxTokensAChatFillsTheContextAndACompletionStopsAt16() {
    // A prompt that leaves the chat a few tokens of the tiny model's 4096, so that filling the
    // context is quick; the decode role must take prompt + max_tokens == context.
    ChatCompletion chat =
        client.chat().completions().create(greedyChat("hello ".repeat(4080)).build());
    var usage = chat.usage().orElseThrow();
    assertThat(usage.totalTokens()).as("prompt and completion tokens").isEqualTo(4096);
    assertThat(usage.completionTokens()).isGreaterThan(1);
    assertThat(chat.choices().getFirst().finishReason().asString()).isEqualTo("length");

    Completion c = client.completions().create(greedyCompletion("Hello").build());
    assertThat(c.usage().orElseThrow().completionTokens()).isEqualTo(16);
  }

  @Test
  void completionsWithNLogprobsAndEcho() {
    Completion c =
        client
            .completions()
            .create(
                CompletionCreateParams.builder()
                    .model("tiny")
                    .prompt("The capital of France is")
                    .maxTokens(6)
                    .temperature(0.0)
                    .n(2)
                    .logprobs(3)
                    .echo(true)
                    .build());
    assertThat(c.choices()).hasSize(2);
    CompletionChoice first = c.choices().get(0);
    assertThat(first.text()).startsWith("The capital of France is");
    assertThat(c.choices().get(1).text()).as("greedy choices agree").isEqualTo(first.text());
    var logprobs = first.logprobs().orElseThrow();
    long prompt = c.usage().orElseThrow().promptTokens();
    assertThat(logprobs.tokens().orElseThrow())
        .as("echo scores the prompt's tokens, then the completion's")
        .hasSize((int) prompt + 6);
    List<Long> offsets = logprobs.textOffset().orElseThrow();
    assertThat(offsets.get(1))
        .as("the first prompt token after BOS starts the echoed text")
        .isZero();
    assertThat(offsets.get((int) prompt))
        .as("the completion starts where the echoed prompt ends")
        .isEqualTo("The capital of France is".length());
    List<Double> values = logprobs.tokenLogprobs().orElseThrow();
    assertThat(values.getFirst()).as("nothing comes before the first prompt token").isNull();
    assertThat(values.subList(1, values.size()))
        .allSatisfy(lp -> assertThat(lp).isNotNull().isLessThanOrEqualTo(0.0));
    assertThat(logprobs.topLogprobs().orElseThrow().subList(1, values.size()))
        .allSatisfy(m -> assertThat(m._additionalProperties()).hasSizeBetween(1, 3));
    assertThat(c.usage().orElseThrow().completionTokens()).isEqualTo(12);
  }

  @Test
  void chatLogprobsAndStop() {
    ChatCompletion plain =
        client.chat().completions().create(greedyChat("Tell me a story.", 10).build());
    String text = plain.choices().getFirst().message().content().orElseThrow();
    ChatCompletion withLogprobs =
        client
            .chat()
            .completions()
            .create(greedyChat("Tell me a story.", 10).logprobs(true).topLogprobs(2).build());
    var content =
        withLogprobs.choices().getFirst().logprobs().orElseThrow().content().orElseThrow();
    assertThat(content).hasSize(10);
    assertThat(content).allSatisfy(t -> assertThat(t.topLogprobs()).hasSize(2));
    assertThat(withLogprobs.choices().getFirst().message().content().orElseThrow()).isEqualTo(text);

    // A stop string from the middle of the greedy text ends it there, without the stop string.
    String stop = text.substring(text.length() / 2, text.length() / 2 + 2);
    int at = text.indexOf(stop);
    ChatCompletion stopped =
        client.chat().completions().create(greedyChat("Tell me a story.", 10).stop(stop).build());
    assertThat(stopped.choices().getFirst().message().content().orElseThrow())
        .isEqualTo(text.substring(0, at));
    assertThat(stopped.choices().getFirst().finishReason().asString()).isEqualTo("stop");
    ChatCompletion included =
        client
            .chat()
            .completions()
            .create(
                greedyChat("Tell me a story.", 10)
                    .stop(stop)
                    .putAdditionalBodyProperty("include_stop_str_in_output", JsonValue.from(true))
                    .build());
    assertThat(included.choices().getFirst().message().content().orElseThrow())
        .as("vLLM's include_stop_str_in_output: the text ends after the stop string")
        .isEqualTo(text.substring(0, at + stop.length()));
  }

  @Test
  void aContinuedReplyIsTheCompletionOfThePromptEndingInsideIt() {
    ChatCompletion continued =
        client
            .chat()
            .completions()
            .create(
                ChatCompletionCreateParams.builder()
                    .model("tiny")
                    .addUserMessage("Name a colour.")
                    .addAssistantMessage("The colour is")
                    .temperature(0.0)
                    .maxCompletionTokens(8)
                    .putAdditionalBodyProperty("ignore_eos", JsonValue.from(true))
                    .putAdditionalBodyProperty("continue_final_message", JsonValue.from(true))
                    .putAdditionalBodyProperty("echo", JsonValue.from(true))
                    .build());
    // DeepSeek-V3's template, the begin-of-sentence token left to the completion's encoding.
    Completion same =
        client
            .completions()
            .create(
                greedyCompletion("<｜User｜>Name a colour.<｜Assistant｜>The colour is")
                    .maxTokens(8)
                    .build());
    assertThat(continued.choices().getFirst().message().content().orElseThrow())
        .as("the echoed start of the reply, then what the model wrote after it")
        .isEqualTo("The colour is" + same.choices().getFirst().text());
    assertThat(continued.usage().orElseThrow().promptTokens())
        .isEqualTo(same.usage().orElseThrow().promptTokens());
  }

  @Test
  void theResponsesApiAnswersAsTheSameChatDoesStreamedOrNot() {
    ChatCompletion chat =
        client
            .chat()
            .completions()
            .create(
                greedyChat("Name a colour.", 8)
                    .messages(List.of())
                    .addSystemMessage("Be brief.")
                    .addUserMessage("Name a colour.")
                    .build());
    String expected = chat.choices().getFirst().message().content().orElseThrow();
    ResponseCreateParams params =
        ResponseCreateParams.builder()
            .model("tiny")
            .instructions("Be brief.")
            .input("Name a colour.")
            .temperature(0.0)
            .maxOutputTokens(8)
            .putAdditionalBodyProperty("ignore_eos", JsonValue.from(true))
            .build();
    Response whole = client.responses().create(params);
    assertThat(outputText(whole)).isEqualTo(expected);
    assertThat(whole.status().orElseThrow().asString())
        .as("cut by max_output_tokens")
        .isEqualTo("incomplete");
    assertThat(whole.incompleteDetails().orElseThrow().reason().orElseThrow().asString())
        .isEqualTo("max_output_tokens");
    assertThat(whole.usage().orElseThrow().outputTokens()).isEqualTo(8);
    assertThat(whole.usage().orElseThrow().inputTokens())
        .isEqualTo(chat.usage().orElseThrow().promptTokens());

    List<ResponseStreamEvent> events = new ArrayList<>();
    try (StreamResponse<ResponseStreamEvent> s = client.responses().createStreaming(params)) {
      s.stream().forEach(events::add);
    }
    StringBuilder deltas = new StringBuilder();
    events.stream()
        .flatMap(e -> e.outputTextDelta().stream())
        .forEach(d -> deltas.append(d.delta()));
    assertThat(deltas.toString()).as("the streamed deltas").isEqualTo(expected);
    assertThat(events.getFirst().isCreated()).as("the first event: %s", events.getFirst()).isTrue();
    ResponseStreamEvent last = events.getLast();
    assertThat(last.isIncomplete()).as("the last event: %s", last).isTrue();
    assertThat(outputText(last.asIncomplete().response())).isEqualTo(expected);
  }

  private static String outputText(Response r) {
    StringBuilder text = new StringBuilder();
    r.output().stream()
        .flatMap(item -> item.message().stream())
        .flatMap(m -> m.content().stream())
        .flatMap(c -> c.outputText().stream())
        .forEach(t -> text.append(t.text()));
    return text.toString();
  }

  @Test
  void greedyOutputEqualsTheGenerateCommand() throws Exception {
    String prompt = "Once upon a time";
    Completion c = client.completions().create(greedyCompletion(prompt).maxTokens(16).build());
    String served = c.choices().getFirst().text();
    Process p =
        new ProcessBuilder(
                RunningSuite.command(
                    "generate",
                    "--model",
                    RunningSuite.model().toString(),
                    "--prompt",
                    prompt,
                    "--max-tokens",
                    "16",
                    "--temperature",
                    "0",
                    "--ignore-eos"))
            .redirectError(ProcessBuilder.Redirect.DISCARD)
            .start();
    String out;
    try (BufferedReader r =
        new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      out = r.lines().reduce("", (a, b) -> a + b + "\n");
    }
    assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).isZero();
    String generated = out.substring(0, out.lastIndexOf("-- 16 tokens"));
    assertThat(generated)
        .as("./disaggmoe generate on the same model and prompt")
        .isEqualTo(served.endsWith("\n") ? served : served + "\n");
  }

  @Test
  void aSpentTokenQuotaIsA429ThatSaysDoNotRetry() {
    OpenAIClient small =
        OpenAIOkHttpClient.builder()
            .baseUrl(suite.url() + "/v1")
            .apiKey(SMALL_QUOTA_KEY)
            .maxRetries(0)
            .build();
    assertThatThrownBy(() -> small.chat().completions().create(greedyChat("Hi", 200).build()))
        .isInstanceOf(RateLimitException.class)
        .satisfies(
            e ->
                assertThat(((RateLimitException) e).headers().values("x-should-retry"))
                    .containsExactly("false"));
  }
}
