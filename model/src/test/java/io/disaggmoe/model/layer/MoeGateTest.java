package io.disaggmoe.model.layer;

import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.model.config.ModelConfig;
import io.disaggmoe.model.config.ScoringFunction;
import io.disaggmoe.model.config.TopkMethod;
import io.disaggmoe.model.gen.Preset;
import org.junit.jupiter.api.Test;

/** Routing rules on hand-made scores: 8 experts in 4 groups of 2, top-2 experts from 2 groups. */
class MoeGateTest {
  private static ModelConfig config(TopkMethod method, boolean normalise, double scale) {
    ModelConfig t = Preset.TINY.config();
    return new ModelConfig(
        t.modelType(),
        t.vocabSize(),
        t.hiddenSize(),
        t.intermediateSize(),
        t.moeIntermediateSize(),
        t.numHiddenLayers(),
        t.numAttentionHeads(),
        1,
        8,
        scale,
        t.kvLoraRank(),
        t.qLoraRank(),
        t.qkRopeHeadDim(),
        t.qkNopeHeadDim(),
        t.vHeadDim(),
        method,
        4,
        2,
        2,
        1,
        1,
        normalise,
        ScoringFunction.SIGMOID,
        t.ropeTheta(),
        null,
        4096,
        1e-6,
        false,
        0,
        1,
        0,
        null);
  }

  @Test
  void v3GroupsRankByTopTwoSumAndBiasSelectsButDoesNotWeigh() {
    // Groups: {0,1}=0.85+0.0, {2,3}=0.5+0.5, {4,5}=0.45+0.45, {6,7}=0.1+0.1
    float[] scores = {0.85f, 0.0f, 0.5f, 0.5f, 0.45f, 0.45f, 0.1f, 0.1f};
    RoutingDecision r = MoeGate.route(scores, new float[8], config(TopkMethod.NOAUX_TC, true, 1.0));
    // Groups {2,3} and {4,5} win on the top-2 sum although expert 0 is the single best.
    assertThat(r.expertIds()[0]).containsExactly(2, 3);

    float[] bias = {0, 0, 0, 0, 0.2f, 0, 0, 0};
    RoutingDecision biased = MoeGate.route(scores, bias, config(TopkMethod.NOAUX_TC, true, 2.5));
    assertThat(biased.expertIds()[0]).containsExactly(4, 2);
    // Weights use the unbiased scores, normalised, times the routed scaling factor.
    assertThat(biased.weights()[0][0]).isEqualTo(0.45f / (0.45f + 0.5f) * 2.5f);
    assertThat(biased.weights()[0][1]).isEqualTo(0.5f / (0.45f + 0.5f) * 2.5f);
  }

  @Test
  void greedyIgnoresGroupsAndKeepsRawWeightsWithoutNormalisation() {
    float[] scores = {0.9f, 0.0f, 0.5f, 0.5f, 0.45f, 0.45f, 0.1f, 0.8f};
    RoutingDecision r = MoeGate.route(scores, null, config(TopkMethod.GREEDY, false, 1.0));
    assertThat(r.expertIds()[0]).containsExactly(0, 7);
    assertThat(r.weights()[0]).containsExactly(0.9f, 0.8f);
  }

  @Test
  void groupLimitedGreedyRanksGroupsByTheirBestScore() {
    float[] scores = {0.9f, 0.0f, 0.5f, 0.5f, 0.45f, 0.45f, 0.1f, 0.8f};
    RoutingDecision r =
        MoeGate.route(scores, null, config(TopkMethod.GROUP_LIMITED_GREEDY, false, 1.0));
    // Best per group: 0.9, 0.5, 0.45, 0.8 -> groups {0,1} and {6,7}.
    assertThat(r.expertIds()[0]).containsExactly(0, 7);
  }

  @Test
  void topKBreaksTiesTowardsTheLowerIndex() {
    assertThat(MoeGate.topK(new float[] {1, 3, 3, 2}, 3)).containsExactly(1, 2, 3);
  }
}
