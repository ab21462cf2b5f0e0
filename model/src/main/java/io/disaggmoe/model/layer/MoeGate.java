package io.disaggmoe.model.layer;

import ai.djl.ndarray.NDArray;
import io.disaggmoe.model.config.ModelConfig;
import io.disaggmoe.model.config.ScoringFunction;
import io.disaggmoe.model.config.TopkMethod;
import io.disaggmoe.model.kernel.WeightMatrix;
import java.util.Arrays;

/**
 * The MoE router: affinities from the gate projection, then the top-k experts per token.
 *
 * <p>Scores come from torch; the selection runs in plain Java on the {@code [tokens, experts]}
 * scores, small enough that clarity wins, and callable directly from tests via {@link #route}.
 */
public final class MoeGate {
  private final WeightMatrix weight;
  private final float[] bias;
  private final ModelConfig config;

  /** {@code bias} is the {@code e_score_correction_bias}, or null when the checkpoint has none. */
  public MoeGate(ModelConfig config, WeightMatrix weight, float[] bias) {
    this.config = config;
    this.weight = weight;
    this.bias = bias;
  }

  /** Bytes of the gate's weights, bias included. */
  public long bytes() {
    return weight.bytes() + (bias == null ? 0 : 4L * bias.length);
  }

  /**
   * Routes every row of {@code x} ({@code [tokens, hidden]}, already normalised).
   *
   * <p>Scores are computed here, not by torch: torch's vectorised sigmoid and its scalar tail round
   * differently, and which one an element gets depends on how many rows the batch has, so a token's
   * routing weights changed with its batch.
   */
  public RoutingDecision forward(NDArray x) {
    return fromLogits(weight.apply(x).toFloatArray());
  }

  /** The same for {@code rows} rows held in a float array. */
  public RoutingDecision forward(float[] x, int rows) {
    float[] scores = new float[rows * weight.rows()];
    weight.multiply(x, rows, scores);
    return fromLogits(scores);
  }

  /** Whether {@link #forward(float[], int)} can take {@code rows} rows. */
  boolean multipliesFloats(int rows) {
    return weight.multipliesFloats(rows);
  }

  private RoutingDecision fromLogits(float[] scores) {
    int experts = config.nRoutedExperts();
    if (config.scoringFunc() == ScoringFunction.SIGMOID) {
      for (int i = 0; i < scores.length; i++) {
        scores[i] = (float) (1 / (1 + Math.exp(-scores[i])));
      }
    } else {
      for (int row = 0; row < scores.length; row += experts) {
        Softmax.inPlace(scores, row, experts);
      }
    }
    return route(scores, bias, config);
  }

  /**
   * Selects experts from affinities {@code scores} ({@code [tokens * experts]}, row-major) as the
   * config's {@code topk_method} says; {@code bias} shifts selection only, never the weights.
   */
  public static RoutingDecision route(float[] scores, float[] bias, ModelConfig config) {
    int experts = config.nRoutedExperts();
    int k = config.numExpertsPerTok();
    int tokens = scores.length / experts;
    int[][] ids = new int[tokens][];
    float[][] weights = new float[tokens][];
    for (int t = 0; t < tokens; t++) {
      float[] original = Arrays.copyOfRange(scores, t * experts, (t + 1) * experts);
      float[] selection = original.clone();
      if (bias != null) {
        for (int e = 0; e < experts; e++) {
          selection[e] += bias[e];
        }
      }
      if (config.topkMethod() != TopkMethod.GREEDY && config.nGroup() > 1) {
        maskLosingGroups(selection, config, bias != null);
      }
      ids[t] = topK(selection, k);
      weights[t] = new float[k];
      float sum = 0;
      for (int j = 0; j < k; j++) {
        weights[t][j] = original[ids[t][j]];
        sum += weights[t][j];
      }
      boolean normalise = config.normTopkProb() && k > 1;
      for (int j = 0; j < k; j++) {
        float w = normalise ? weights[t][j] / sum : weights[t][j];
        weights[t][j] = w * (float) config.routedScalingFactor();
      }
    }
    return new RoutingDecision(ids, weights);
  }

  /**
   * Sets to -inf every expert outside the {@code topk_group} best groups; a group's score is the
   * sum of its two best scores with a bias (V3), its best score without (V2).
   */
  static void maskLosingGroups(float[] selection, ModelConfig config, boolean topTwoSum) {
    int groups = config.nGroup();
    int size = config.expertsPerGroup();
    float[] groupScores = new float[groups];
    for (int g = 0; g < groups; g++) {
      float[] members = Arrays.copyOfRange(selection, g * size, (g + 1) * size);
      int[] best = topK(members, topTwoSum ? 2 : 1);
      groupScores[g] = topTwoSum ? members[best[0]] + members[best[1]] : members[best[0]];
    }
    boolean[] keep = new boolean[groups];
    for (int g : topK(groupScores, config.topkGroup())) {
      keep[g] = true;
    }
    for (int g = 0; g < groups; g++) {
      if (!keep[g]) {
        Arrays.fill(selection, g * size, (g + 1) * size, Float.NEGATIVE_INFINITY);
      }
    }
  }

  /** Indices of the {@code k} largest values, largest first; ties go to the lower index. */
  public static int[] topK(float[] values, int k) {
    int[] out = new int[k];
    boolean[] taken = new boolean[values.length];
    for (int j = 0; j < k; j++) {
      int best = -1;
      for (int i = 0; i < values.length; i++) {
        if (!taken[i] && (best < 0 || values[i] > values[best])) {
          best = i;
        }
      }
      taken[best] = true;
      out[j] = best;
    }
    return out;
  }
}
