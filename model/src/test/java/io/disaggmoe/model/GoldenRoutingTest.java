package io.disaggmoe.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDManager;
import io.disaggmoe.model.cache.PagedLatentCache;
import io.disaggmoe.model.config.ModelConfig;
import io.disaggmoe.model.config.ModelConfigJson;
import io.disaggmoe.model.expert.ExpertExecutor;
import io.disaggmoe.model.expert.LocalExpertExecutor;
import io.disaggmoe.model.expert.RoutedExperts;
import io.disaggmoe.model.layer.AttentionMode;
import io.disaggmoe.model.layer.RoutingDecision;
import io.disaggmoe.model.testing.GoldenCase;
import io.disaggmoe.model.weights.Checkpoint;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The gate of the first MoE layer chooses the reference's experts with the reference's weights,
 * observed at the {@link ExpertExecutor} seam, which is also what a remote executor receives.
 */
class GoldenRoutingTest {
  static Stream<GoldenCase> cases() {
    return GoldenCase.all();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void firstMoeLayerRoutingMatchesReference(GoldenCase golden) throws Exception {
    ModelConfig config = ModelConfigJson.read(golden.dir());
    int layer = config.firstKDenseReplace();
    int k = config.numExpertsPerTok();
    List<RoutingDecision> seen = new ArrayList<>();
    try (NDManager manager = NDManager.newBaseManager();
        Checkpoint ckpt = Checkpoint.open(golden.dir(), config.quantization())) {
      LocalExpertExecutor local =
          new LocalExpertExecutor(RoutedExperts.load(ckpt, config, key -> true), manager);
      ExpertExecutor recording =
          (l, hidden, dim, routing) -> {
            if (l == layer) {
              seen.add(routing);
            }
            return local.dispatch(l, hidden, dim, routing);
          };
      try (LocalModel model = LocalModel.load(golden.dir(), AttentionMode.ABSORB, recording);
          PagedLatentCache cache = model.newCache();
          Checkpoint expected = golden.expected()) {
        int[] prompt = golden.promptIds();
        int[] greedy = golden.greedyIds();
        model.forward(List.of(cache), List.of(prompt), false);
        for (int j = 0; j < greedy.length - 1; j++) {
          model.forward(List.of(cache), List.of(new int[] {greedy[j]}), false);
        }
        compare(golden + " prefill", seen.get(0), expected, "first_moe_layer_topk", k);
        RoutingDecision decode = concat(seen.subList(1, seen.size()));
        compare(golden + " decode", decode, expected, "first_moe_layer_decode_topk", k);
      }
    }
  }

  private static void compare(
      String what, RoutingDecision actual, Checkpoint expected, String prefix, int k) {
    long[] ids = expected.readLongs(prefix + "_ids");
    int tokens = ids.length / k;
    float[] weights = expected.readFloats(prefix + "_weights", tokens, k);
    assertThat(actual.tokens()).as(what + " tokens").isEqualTo(tokens);
    for (int t = 0; t < tokens; t++) {
      int[] want = sortedIds(ids, t, k);
      int[] got = actual.expertIds()[t].clone();
      Arrays.sort(got);
      assertThat(got).as("%s token %d expert ids", what, t).containsExactly(want);
      for (int j = 0; j < k; j++) {
        int expert = (int) ids[t * k + j];
        int at = indexOf(actual.expertIds()[t], expert);
        assertThat(actual.weights()[t][at])
            .as("%s token %d weight of expert %d", what, t, expert)
            .isCloseTo(weights[t * k + j], within(1e-5f));
      }
    }
  }

  private static int[] sortedIds(long[] ids, int t, int k) {
    int[] out = new int[k];
    for (int j = 0; j < k; j++) {
      out[j] = (int) ids[t * k + j];
    }
    Arrays.sort(out);
    return out;
  }

  private static int indexOf(int[] values, int v) {
    for (int i = 0; i < values.length; i++) {
      if (values[i] == v) {
        return i;
      }
    }
    throw new AssertionError("expert " + v + " not chosen");
  }

  private static RoutingDecision concat(List<RoutingDecision> parts) {
    List<int[]> ids = new ArrayList<>();
    List<float[]> weights = new ArrayList<>();
    for (RoutingDecision r : parts) {
      ids.addAll(Arrays.asList(r.expertIds()));
      weights.addAll(Arrays.asList(r.weights()));
    }
    return new RoutingDecision(ids.toArray(int[][]::new), weights.toArray(float[][]::new));
  }
}
