package io.disaggmoe.cli;

import static io.disaggmoe.cli.CliRun.run;
import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.model.LocalGenerator;
import io.disaggmoe.model.LocalModel;
import io.disaggmoe.model.layer.AttentionMode;
import io.disaggmoe.model.sampling.SamplingParams;
import io.disaggmoe.model.text.TextTokenizer;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** tokenize, chat-template and generate, on a checkpoint made by gen-model. */
class TextCommandsTest {
  @TempDir static Path tiny;
  @TempDir Path tmp;

  @BeforeAll
  static void generate() {
    CliRun gen = run("gen-model", "--preset", "tiny", "--seed", "3", "--out", tiny.toString());
    assertThat(gen.exitCode()).as(gen.err()).isZero();
  }

  private static JsonNode golden() throws Exception {
    try (InputStream in =
        TextCommandsTest.class.getResourceAsStream("/tokenizer/golden-tokenizer.json")) {
      assertThat(in)
          .as("test resource /tokenizer/golden-tokenizer.json (model test-jar)")
          .isNotNull();
      return JsonMapper.shared().readTree(in);
    }
  }

  @Test
  void tokenizePrintsTheGoldenIdsAsOneJsonArray() throws Exception {
    // Every entry is checked in the model library; here a spread of them checks the command.
    JsonNode entries = golden().path("encode");
    for (int i = 0; i < entries.size(); i += 5) {
      JsonNode e = entries.get(i);
      List<String> args =
          new ArrayList<>(
              List.of("tokenize", "--model", tiny.toString(), "--text", e.path("text").asString()));
      if (!e.path("add_special_tokens").asBoolean()) {
        args.add("--no-special-tokens");
      }
      CliRun r = run(args.toArray(String[]::new));
      assertThat(r.exitCode()).as(r.err()).isZero();
      assertThat(JsonMapper.shared().readTree(r.out()))
          .as("ids of %s", e.path("text"))
          .isEqualTo(e.path("ids"));
      assertThat(r.out()).doesNotContain(" ").endsWith("]\n");
    }
  }

  @Test
  void chatTemplatePrintsTheGoldenPromptExactly() throws Exception {
    for (JsonNode c : golden().path("chat")) {
      Path messages = tmp.resolve("messages.json");
      JsonMapper.shared().writeValue(messages.toFile(), c.path("messages"));
      List<String> args =
          new ArrayList<>(
              List.of(
                  "chat-template", "--model", tiny.toString(), "--messages", messages.toString()));
      if (c.path("add_generation_prompt").asBoolean()) {
        args.add("--add-generation-prompt");
      }
      CliRun r = run(args.toArray(String[]::new));
      assertThat(r.exitCode()).as(r.err()).isZero();
      assertThat(r.out()).isEqualTo(c.path("rendered").asString() + "\n");
    }
  }

  @Test
  void chatTemplateRejectsAFileThatIsNotAMessagesArray() throws Exception {
    Path bad = tmp.resolve("bad.json");
    Files.writeString(bad, "{\"role\": \"user\"}");
    CliRun r = run("chat-template", "--model", tiny.toString(), "--messages", bad.toString());
    assertThat(r.exitCode()).isNotZero();
    assertThat(r.err()).contains(bad + " must hold a JSON array of messages");
  }

  @Test
  void generateStreamsTheGreedyTextThenOneSummaryLine() throws Exception {
    CliRun r =
        run(
            "generate",
            "--model",
            tiny.toString(),
            "--prompt",
            "Hello",
            "--max-tokens",
            "12",
            "--temperature",
            "0",
            "--ignore-eos");
    assertThat(r.exitCode()).as(r.err()).isZero();
    String expected;
    try (LocalModel m = LocalModel.load(tiny, AttentionMode.ABSORB);
        TextTokenizer t = TextTokenizer.load(tiny)) {
      SamplingParams greedy =
          SamplingParams.builder().temperature(0).maxTokens(12).ignoreEos(true).build();
      expected =
          new LocalGenerator(m, t).generate(t.encode("Hello", true), greedy, (i, s) -> {}).text();
    }
    String[] lines = r.out().split("\n");
    assertThat(r.out()).startsWith(expected);
    assertThat(lines[lines.length - 1])
        .matches("-- 12 tokens, [0-9.]+ tokens/s, finish_reason=length \\(prompt 2 tokens.*");
  }

  @Test
  void generateWithChatAndAStopStringIsReproducibleWithItsSeed() {
    String text = sampledChatText();
    assertThat(text).doesNotContain("e");
    assertThat(sampledChatText()).isEqualTo(text);
  }

  private static String sampledChatText() {
    CliRun r =
        run(
            "generate",
            "--model",
            tiny.toString(),
            "--prompt",
            "Hi",
            "--chat",
            "--max-tokens",
            "8",
            "--temperature",
            "0.7",
            "--top-p",
            "0.9",
            "--seed",
            "1",
            "--stop",
            "e");
    assertThat(r.exitCode()).as(r.err()).isZero();
    assertThat(r.out()).containsPattern("finish_reason=(stop|length)");
    return r.out().substring(0, r.out().lastIndexOf("-- "));
  }

  @Test
  void badSamplingValuesNameTheControl() {
    CliRun r =
        run(
            "generate",
            "--model",
            tiny.toString(),
            "--prompt",
            "Hi",
            "--max-tokens",
            "4",
            "--top-p",
            "1.5");
    assertThat(r.exitCode()).isNotZero();
    assertThat(r.err()).contains("top_p must be in (0, 1]");
  }
}
