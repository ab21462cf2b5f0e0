package io.disaggmoe.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.disaggmoe.model.gen.CheckpointGenerator;
import io.disaggmoe.model.gen.Preset;
import io.disaggmoe.model.layer.AttentionMode;
import io.disaggmoe.model.sampling.FinishReason;
import io.disaggmoe.model.sampling.SamplingParams;
import io.disaggmoe.model.testing.GoldenCase;
import io.disaggmoe.model.text.TextTokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Text generation on the generated tiny checkpoint, which carries the real tokenizer. */
class LocalGeneratorTest {
  @TempDir static Path dir;
  private static LocalModel model;
  private static TextTokenizer tokenizer;
  private static LocalGenerator generator;

  @BeforeAll
  static void load() throws IOException {
    CheckpointGenerator.generate(Preset.TINY.config(), 11, 1, dir);
    model = LocalModel.load(dir, AttentionMode.ABSORB);
    tokenizer = TextTokenizer.load(dir);
    generator = new LocalGenerator(model, tokenizer);
  }

  @AfterAll
  static void close() {
    tokenizer.close();
    model.close();
  }

  private static final LocalGenerator.StepListener IGNORE = (r, s) -> {};

  @Test
  void greedyGenerationFollowsTheReferenceGreedyRun() {
    int[] prompt = tokenizer.encode("Hello, world!", true);
    SamplingParams greedy =
        SamplingParams.builder().temperature(0).ignoreEos(true).maxTokens(8).build();
    LocalGenerator.Result r = generator.generate(prompt, greedy, IGNORE);
    long[] reference = GreedyForward.run(model, prompt, 7).greedyIds();
    assertThat(Arrays.stream(r.outputIds()).asLongStream().toArray()).containsExactly(reference);
    assertThat(r.finishReason()).isEqualTo(FinishReason.LENGTH);
    assertThat(r.text()).isEqualTo(tokenizer.decode(r.outputIds(), true));
  }

  @Test
  void aSeededRequestGivesTheSameTokensAloneAndInABatch() {
    int[] prompt = tokenizer.encode("The quick brown fox", true);
    SamplingParams seeded =
        SamplingParams.builder().temperature(0.8).topP(0.9).seed(1234L).maxTokens(10).build();
    int[] alone = generator.generate(prompt, seeded, IGNORE).outputIds();

    List<int[]> prompts =
        List.of(
            tokenizer.encode("A much longer neighbour prompt, with other words in it.", true),
            prompt,
            tokenizer.encode("Short", true));
    List<SamplingParams> params =
        List.of(
            SamplingParams.builder().seed(1L).maxTokens(3).build(),
            seeded,
            SamplingParams.builder().temperature(0).maxTokens(12).build());
    List<LocalGenerator.Result> batch = generator.generate(prompts, params, IGNORE);
    assertThat(batch.get(1).outputIds()).containsExactly(alone);
    assertThat(batch.get(0).outputIds()).hasSize(3);
  }

  @Test
  void stepsStreamTextThatAddsUpToTheResult() {
    List<String> pieces = new ArrayList<>();
    SamplingParams p = SamplingParams.builder().seed(5L).maxTokens(12).build();
    LocalGenerator.Result r =
        generator.generate(tokenizer.encode("Hi", true), p, (i, step) -> pieces.add(step.text()));
    assertThat(String.join("", pieces)).isEqualTo(r.text());
    assertThat(pieces).hasSize(r.outputIds().length);
  }

  @Test
  void manyRequestsLeaveNoNativeArraysBehind() {
    SamplingParams p = SamplingParams.builder().seed(3L).maxTokens(4).build();
    generator.generate(tokenizer.encode("warm up", true), p, IGNORE);
    int before = model.managedArrayCount();
    for (int i = 0; i < 20; i++) {
      generator.generate(
          List.of(tokenizer.encode("request " + i, true), tokenizer.encode("other", true)),
          List.of(p, p),
          IGNORE);
    }
    assertThat(model.managedArrayCount()).isEqualTo(before);
  }

  @Test
  void aTokenizerLargerThanTheModelsVocabularyIsRefused() throws IOException {
    try (LocalModel small =
        LocalModel.load(GoldenCase.named("v3-tiny").dir(), AttentionMode.ABSORB)) {
      assertThatThrownBy(() -> new LocalGenerator(small, tokenizer))
          .hasMessage(
              "the tokenizer has 128815 token ids but the model's vocab_size is 512;"
                  + " this checkpoint cannot run with this tokenizer");
    }
  }
}
