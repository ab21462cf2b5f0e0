package io.disaggmoe.model.sampling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

class SamplerTest {
  private static final int[] NO_PROMPT = {};

  private static Sampler sampler(int vocab, Consumer<SamplingParams.Builder> params) {
    SamplingParams.Builder b = SamplingParams.builder().seed(42L).maxTokens(1000);
    params.accept(b);
    return new Sampler(b.build(), NO_PROMPT, vocab);
  }

  private static List<Integer> run(Sampler s, float[] logits, int steps) {
    List<Integer> ids = new ArrayList<>();
    for (int i = 0; i < steps; i++) {
      ids.add(s.sample(logits).tokenId());
    }
    return ids;
  }

  private static double[] frequencies(Sampler s, float[] logits, int draws) {
    double[] f = new double[logits.length];
    for (int i = 0; i < draws; i++) {
      f[s.sample(logits).tokenId()] += 1.0 / draws;
    }
    return f;
  }

  private static float[] logitsOf(double... probs) {
    float[] x = new float[probs.length];
    for (int i = 0; i < probs.length; i++) {
      x[i] = (float) Math.log(probs[i]);
    }
    return x;
  }

  @Test
  void greedyTakesTheLargestLogitAndTheLowestIdOnTies() {
    Sampler s = sampler(4, b -> b.temperature(0));
    assertThat(run(s, new float[] {0.1f, 2f, 2f, -1f}, 3)).containsOnly(1);
  }

  @Test
  void greedyOverAFullVocabularyTakesTheFirstLargestAndNaNIsNamed() {
    float[] x = new float[129_280];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) Math.sin(i);
    }
    x[77_777] = 3f;
    x[100_003] = 3f;
    x[129_000] = 4f;
    assertThat(run(sampler(129_000, b -> b.temperature(0)), x, 1))
        .as("the largest within the vocabulary, first of two")
        .containsExactly(77_777);
    assertThat(run(sampler(129_000, b -> b.temperature(0).presencePenalty(2)), x, 2))
        .as("the second step's penalty leaves the other tie")
        .containsExactly(77_777, 100_003);
    x[65_536] = Float.NaN;
    assertThatThrownBy(() -> sampler(129_000, b -> b.temperature(0)).sample(x))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("logits hold NaN at token 65536");
  }

  @Test
  void temperatureSamplesSoftmaxOfScaledLogits() {
    float[] x = {1f, 0f, -1f};
    double t = 0.7;
    double[] expected = new double[3];
    double z = 0;
    for (int i = 0; i < 3; i++) {
      z += expected[i] = Math.exp(x[i] / t);
    }
    double[] f = frequencies(sampler(3, b -> b.temperature(t)), x, 40_000);
    for (int i = 0; i < 3; i++) {
      assertThat(f[i]).as("frequency of token %d", i).isCloseTo(expected[i] / z, within(0.01));
    }
  }

  @Test
  void logitsPastTheVocabularyAreNeitherSampledNorScoredNorChanged() {
    // A model's rows past the tokenizer's last id: the largest logits, and ignored.
    float[] x = {0f, 1f, -1f, 50f, 60f};
    float[] before = x.clone();
    assertThat(run(sampler(3, b -> b.temperature(0)), x, 2)).containsOnly(1);
    assertThat(run(sampler(3, b -> b.temperature(1)), x, 200)).allMatch(id -> id < 3);
    SampledToken t = sampler(3, b -> b.temperature(0).logprobs(true).topLogprobs(5)).sample(x);
    double z = Math.exp(0) + Math.exp(1) + Math.exp(-1);
    assertThat((double) t.logprob().logprob()).isCloseTo(1 - Math.log(z), within(1e-6));
    assertThat(t.topLogprobs()).extracting(TokenLogprob::tokenId).containsExactly(1, 0, 2);
    assertThat(run(sampler(3, b -> b.temperature(1).presencePenalty(1)), x, 50))
        .allMatch(id -> id < 3);
    assertThat(x).as("the caller's logits").containsExactly(before);
    // This thread's probabilities array is now longer than a vocabulary of 2: not read past it.
    assertThat(run(sampler(2, b -> b.temperature(1).topP(0.99)), x, 50)).allMatch(id -> id < 2);
    assertThat(run(sampler(2, b -> b.temperature(1).topK(5)), x, 50)).allMatch(id -> id < 2);
  }

  @Test
  void topKKeepsOnlyTheKMostLikely() {
    float[] x = new float[100];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) Math.sin(i) * 0.1f;
    }
    int[] top3 = TopCandidates.largest(x, 3);
    Set<Integer> seen = new TreeSet<>(run(sampler(100, b -> b.topK(3)), x, 3000));
    assertThat(seen).containsExactlyInAnyOrder(top3[0], top3[1], top3[2]);
  }

  @Test
  void topPKeepsTheSmallestSetHoldingThatMass() {
    float[] x = logitsOf(0.5, 0.3, 0.15, 0.05);
    assertThat(new TreeSet<>(run(sampler(4, b -> b.topP(0.8)), x, 3000))).containsExactly(0, 1);
    assertThat(new TreeSet<>(run(sampler(4, b -> b.topP(0.81)), x, 3000))).containsExactly(0, 1, 2);
  }

  @Test
  void topPOverAFlatVocabularyLooksPastTheFirstGuess() {
    int vocab = 129_280;
    float[] flat = new float[vocab];
    List<Integer> ids = run(sampler(vocab, b -> b.topP(0.5)), flat, 300);
    assertThat(ids).allMatch(id -> id < vocab / 2);
    assertThat(ids.stream().mapToInt(Integer::intValue).max().orElseThrow()).isGreaterThan(256);
  }

  @Test
  void minPDropsTokensBelowThatShareOfTheMostLikely() {
    float[] x = logitsOf(0.6, 0.3, 0.1);
    assertThat(new TreeSet<>(run(sampler(3, b -> b.minP(0.2)), x, 3000))).containsExactly(0, 1);
  }

  @Test
  void theSameSeedGivesTheSameTokensWhateverIsSampledAlongside() {
    float[] x = logitsOf(0.25, 0.25, 0.2, 0.2, 0.1);
    List<Integer> alone = run(sampler(5, b -> b.seed(7L)), x, 50);
    Sampler a = sampler(5, b -> b.seed(7L));
    Sampler neighbour = sampler(5, b -> b.seed(8L).topK(2));
    List<Integer> batched = new ArrayList<>();
    for (int i = 0; i < 50; i++) {
      batched.add(a.sample(x).tokenId());
      neighbour.sample(x);
    }
    assertThat(batched).isEqualTo(alone);
    assertThat(run(sampler(5, b -> b.seed(9L)), x, 50)).isNotEqualTo(alone);
  }

  @Test
  void frequencyPenaltyGrowsWithEachRepeat() {
    Sampler s = sampler(3, b -> b.temperature(0).frequencyPenalty(0.15));
    assertThat(run(s, new float[] {1f, 0.8f, 0f}, 5)).containsExactly(0, 0, 1, 0, 1);
  }

  @Test
  void presencePenaltyIsPaidOncePerToken() {
    Sampler s = sampler(3, b -> b.temperature(0).presencePenalty(0.3));
    assertThat(run(s, new float[] {1f, 0.8f, 0f}, 4)).containsExactly(0, 1, 0, 0);
  }

  @Test
  void repetitionPenaltyCountsThePromptAndShrinksLogitsOfEitherSign() {
    SamplingParams p = SamplingParams.builder().temperature(0).repetitionPenalty(2).build();
    assertThat(new Sampler(p, new int[] {0}, 3).sample(new float[] {1f, 0.6f, -0.5f}).tokenId())
        .as("positive logit 1.0 halved below 0.6")
        .isEqualTo(1);
    assertThat(new Sampler(p, new int[] {2}, 3).sample(new float[] {-1f, -0.8f, -0.5f}).tokenId())
        .as("negative logit -0.5 doubled below -0.8")
        .isEqualTo(1);
  }

  @Test
  void logitBiasIsAddedBeforeSampling() {
    assertThat(sampler(3, b -> b.temperature(0).logitBias(Map.of(2, 5f))).sample(new float[3]))
        .extracting(SampledToken::tokenId)
        .isEqualTo(2);
    float[] x = {5f, 0f, 0f};
    assertThat(run(sampler(3, b -> b.logitBias(Map.of(0, -100f))), x, 500)).doesNotContain(0);
  }

  @Test
  void logprobsAreTheRawLogSoftmaxWithTheTopAlternatives() {
    float[] x = {2f, 1f, 0f, -1f};
    SampledToken t = sampler(4, b -> b.temperature(0).logprobs(true).topLogprobs(2)).sample(x);
    double z = Math.log(Math.exp(2) + Math.exp(1) + Math.exp(0) + Math.exp(-1));
    assertThat(t.logprob().tokenId()).isZero();
    assertThat(t.logprob().logprob()).isCloseTo((float) (2 - z), within(1e-6f));
    assertThat(t.topLogprobs()).extracting(TokenLogprob::tokenId).containsExactly(0, 1);
    assertThat(t.topLogprobs().get(1).logprob()).isCloseTo((float) (1 - z), within(1e-6f));
    assertThat(sampler(4, b -> {}).sample(x).logprob()).isNull();
  }

  @Test
  void outOfRangeControlsNameTheField() {
    assertThatThrownBy(() -> SamplingParams.builder().temperature(-1).build())
        .isInstanceOf(InvalidSamplingParamsException.class)
        .hasMessageContaining("temperature");
    assertThatThrownBy(() -> SamplingParams.builder().topP(0).build())
        .hasMessageContaining("top_p");
    assertThatThrownBy(() -> SamplingParams.builder().minP(1.5).build())
        .hasMessageContaining("min_p");
    assertThatThrownBy(() -> SamplingParams.builder().topK(-2).build())
        .hasMessageContaining("top_k");
    assertThatThrownBy(() -> SamplingParams.builder().presencePenalty(3).build())
        .hasMessageContaining("presence_penalty");
    assertThatThrownBy(() -> SamplingParams.builder().frequencyPenalty(-3).build())
        .hasMessageContaining("frequency_penalty");
    assertThatThrownBy(() -> SamplingParams.builder().repetitionPenalty(0).build())
        .hasMessageContaining("repetition_penalty");
    assertThatThrownBy(() -> SamplingParams.builder().maxTokens(0).build())
        .hasMessageContaining("max_tokens");
    assertThatThrownBy(() -> SamplingParams.builder().logprobs(true).topLogprobs(21).build())
        .hasMessageContaining("top_logprobs");
    assertThatThrownBy(() -> SamplingParams.builder().logitBias(Map.of(1, 101f)).build())
        .hasMessageContaining("logit_bias");
    assertThatThrownBy(() -> SamplingParams.builder().stop(List.of("")).build())
        .hasMessageContaining("stop");
    SamplingParams biasOutside = SamplingParams.builder().logitBias(Map.of(10, 1f)).build();
    assertThatThrownBy(() -> new Sampler(biasOutside, NO_PROMPT, 10))
        .isInstanceOf(InvalidSamplingParamsException.class)
        .hasMessage("logit_bias names token 10, outside the vocabulary of 10");
  }

  @Test
  void topCandidatesOrdersByValueThenId() {
    float[] x = {0.5f, -1f, 3f, 0.5f, Float.NEGATIVE_INFINITY, 2f};
    assertThat(TopCandidates.largest(x, 4)).containsExactly(2, 5, 0, 3);
    assertThat(TopCandidates.largest(x, 10)).containsExactly(2, 5, 0, 3, 1, 4);
  }
}
