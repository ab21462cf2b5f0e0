package io.disaggmoe.model.sampling;

import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.model.testing.SharedTokenizer;
import io.disaggmoe.model.text.TextTokenizer;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/** Stop conditions and streamed text over the real tokenizer, with logits that force each token. */
class CompletionTest {
  private static final TextTokenizer tokenizer = SharedTokenizer.deepSeekV3();

  /** Feeds logits that make greedy sampling choose {@code script}, until the request ends. */
  private static Result run(int[] script, Consumer<SamplingParams.Builder> params) {
    SamplingParams.Builder b = SamplingParams.builder().temperature(0).maxTokens(1000);
    params.accept(b);
    int vocab = tokenizer.tokenCount();
    Completion c = new Completion(tokenizer, b.build(), new int[] {0}, vocab);
    StringBuilder text = new StringBuilder();
    int steps = 0;
    while (!c.finished() && steps < script.length) {
      float[] logits = new float[vocab];
      logits[script[steps++]] = 100;
      text.append(c.step(logits).text());
    }
    return new Result(text.toString(), c.finishReason(), steps);
  }

  private record Result(String text, FinishReason finishReason, int tokens) {}

  private static int[] ids(String text) {
    return tokenizer.encode(text, false);
  }

  @Test
  void aStopStringStraddlingTokensEndsTheTextBeforeIt() {
    int[] script = ids("Hello, world! Goodbye.");
    Result r = run(script, b -> b.stop(List.of("o, wo")));
    assertThat(r.text()).isEqualTo("Hell");
    assertThat(r.finishReason()).isEqualTo(FinishReason.STOP);
    assertThat(r.tokens()).as("stops at the token completing the match").isEqualTo(3);
  }

  @Test
  void aStopStringInsideOneMultiTokenCharacterSequenceIsFound() {
    Result r = run(ids("I love 🦀 and 🐍!"), b -> b.stop(List.of("🦀 a")));
    assertThat(r.text()).isEqualTo("I love ");
    assertThat(r.finishReason()).isEqualTo(FinishReason.STOP);
  }

  @Test
  void eosEndsTheRequestUnlessIgnored() {
    int eos = tokenizer.eosTokenId();
    int[] hi = ids("Hi there");
    int[] script = {hi[0], eos, hi[1]};
    Result stopped = run(script, b -> {});
    assertThat(stopped.text()).isEqualTo("Hi");
    assertThat(stopped.finishReason()).isEqualTo(FinishReason.STOP);
    Result ignored = run(script, b -> b.ignoreEos(true).maxTokens(3));
    assertThat(ignored.text()).isEqualTo("Hi there");
    assertThat(ignored.finishReason()).isEqualTo(FinishReason.LENGTH);
  }

  @Test
  void aStopTokenIdEndsTheRequestAndIsNotShown() {
    int[] script = ids("one two three four");
    Result r = run(script, b -> b.stopTokenIds(Set.of(script[2])));
    assertThat(r.text()).isEqualTo("one two");
    assertThat(r.finishReason()).isEqualTo(FinishReason.STOP);
  }

  @Test
  void maxTokensCutsMidCharacterAndFlushesLikeTheFullDecode() {
    int[] script = ids("ok 🦀");
    int cut = script.length - 1;
    Result r = run(script, b -> b.maxTokens(cut));
    assertThat(r.finishReason()).isEqualTo(FinishReason.LENGTH);
    assertThat(r.tokens()).isEqualTo(cut);
    assertThat(r.text())
        .isEqualTo(tokenizer.decode(Arrays.copyOf(script, cut), true))
        .endsWith("\uFFFD");
  }

  @Test
  void streamedTextEqualsTheFullDecodeWhenNothingStopsIt() {
    String text = "深度求索 DeepSeek-V3 🐍 naïve";
    Result r = run(ids(text), b -> b.stop(List.of("never appears")).maxTokens(ids(text).length));
    assertThat(r.text()).isEqualTo(text);
    assertThat(r.finishReason()).isEqualTo(FinishReason.LENGTH);
  }

  @Test
  void aResumedSeededRequestContinuesExactlyAsAnUninterruptedOne() {
    SamplingParams params =
        SamplingParams.builder()
            .temperature(0.9)
            .topP(0.95)
            .seed(7L)
            .frequencyPenalty(0.5)
            .maxTokens(12)
            .build();
    int vocab = 64;
    java.util.SplittableRandom logitsSource = new java.util.SplittableRandom(3);
    float[][] logits = new float[12][vocab];
    for (float[] row : logits) {
      for (int i = 0; i < vocab; i++) {
        row[i] = (float) logitsSource.nextGaussian();
      }
    }
    int[] prompt = {1, 2, 3};
    Completion whole = Completion.idsOnly(params, prompt, vocab, -1);
    for (float[] row : logits) {
      whole.step(row);
    }
    Completion first = Completion.idsOnly(params, prompt, vocab, -1);
    for (int i = 0; i < 5; i++) {
      first.step(logits[i]);
    }
    Completion resumed = Completion.idsOnly(params, prompt, vocab, -1);
    resumed.resume(first.outputIds());
    for (int i = 5; i < 12; i++) {
      resumed.step(logits[i]);
    }
    assertThat(resumed.outputIds()).isEqualTo(whole.outputIds());
    assertThat(resumed.finishReason()).isEqualTo(FinishReason.LENGTH);
  }

  @Test
  void aResumedRequestHoldsBackTheSameTextAndCountsMaxTokensFromTheStart() {
    int[] script = ids("Hello, world! Goodbye.");
    SamplingParams params =
        SamplingParams.builder().temperature(0).maxTokens(1000).stop(List.of("o, wo")).build();
    int vocab = tokenizer.tokenCount();
    Completion c = new Completion(tokenizer, params, new int[] {0}, vocab);
    c.resume(new int[] {script[0]});
    float[] logits = new float[vocab];
    logits[script[1]] = 100;
    StringBuilder text = new StringBuilder(c.step(logits).text());
    logits = new float[vocab];
    logits[script[2]] = 100;
    CompletionStep last = c.step(logits);
    text.append(last.text());
    assertThat(last.finishReason()).isEqualTo(FinishReason.STOP);
    assertThat(text.toString()).as("text after the replayed 'Hello'").isEmpty();

    Completion capped =
        Completion.idsOnly(
            SamplingParams.builder().temperature(0).maxTokens(3).build(), new int[] {0}, 8, -1);
    capped.resume(new int[] {1, 2});
    assertThat(capped.step(new float[] {0, 0, 0, 9, 0, 0, 0, 0}).finishReason())
        .isEqualTo(FinishReason.LENGTH);
  }

  @Test
  void idsOnlyRefusesStopStrings() {
    SamplingParams params = SamplingParams.builder().stop(List.of("x")).build();
    org.assertj.core.api.Assertions.assertThatThrownBy(
            () -> Completion.idsOnly(params, new int[] {0}, 8, 1))
        .isInstanceOf(InvalidSamplingParamsException.class)
        .hasMessageContaining("tokenizer");
  }
}
