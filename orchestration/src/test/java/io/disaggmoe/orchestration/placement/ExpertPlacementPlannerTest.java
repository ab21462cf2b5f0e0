package io.disaggmoe.orchestration.placement;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.InputStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Plans against DeepSeek EPLB's own placements of the same loads (golden/eplb, copied from
 * ../shared/golden/eplb): per layer no worse balanced, every expert placed, every pool at its slot
 * count.
 */
class ExpertPlacementPlannerTest {
  static Stream<String> cases() {
    return Stream.of("global", "small-hier", "v3-like-hier");
  }

  private static JsonNode golden(String name) throws IOException {
    try (InputStream in =
        ExpertPlacementPlannerTest.class.getResourceAsStream("/golden/eplb/" + name + ".json")) {
      assertThat(in).as("golden case %s", name).isNotNull();
      return JsonMapper.shared().readTree(in);
    }
  }

  private static long[][] longs(JsonNode rows) {
    long[][] out = new long[rows.size()][];
    for (int i = 0; i < out.length; i++) {
      JsonNode row = rows.get(i);
      out[i] = new long[row.size()];
      for (int j = 0; j < out[i].length; j++) {
        out[i][j] = row.get(j).asLong();
      }
    }
    return out;
  }

  private static int[][] ints(JsonNode rows) {
    long[][] l = longs(rows);
    int[][] out = new int[l.length][];
    for (int i = 0; i < l.length; i++) {
      out[i] = java.util.Arrays.stream(l[i]).mapToInt(Math::toIntExact).toArray();
    }
    return out;
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void noLayerIsWorseBalancedThanEplbAndEveryExpertIsPlaced(String name) throws IOException {
    JsonNode c = golden(name);
    JsonNode p = c.get("params");
    int slots = p.get("num_replicas").asInt();
    int pools = p.get("num_gpus").asInt();
    long[][] weight = longs(c.get("weight"));
    ExpertPlacementPlan plan =
        ExpertPlacementPlanner.plan(
            weight, slots, p.get("num_groups").asInt(), p.get("num_nodes").asInt(), pools);
    int[][] eplbPhy2log = ints(c.get("eplb").get("phy2log"));
    int[][] eplbLogcnt = ints(c.get("eplb").get("logcnt"));
    JsonNode eplbBalance = c.get("balancedness").get("eplb_max_over_mean_per_layer");
    for (int l = 0; l < weight.length; l++) {
      // The measure itself is EPLB's: its placement scores what the reference recorded.
      assertThat(
              ExpertPlacementPlanner.maxOverMean(weight[l], eplbPhy2log[l], eplbLogcnt[l], pools))
          .as("%s layer %d: EPLB's placement under our measure", name, l)
          .isCloseTo(eplbBalance.get(l).asDouble(), org.assertj.core.data.Offset.offset(2e-6));
      assertThat(plan.maxOverMean()[l])
          .as("%s layer %d: max/mean pool load, ours against EPLB's", name, l)
          .isLessThanOrEqualTo(eplbBalance.get(l).asDouble() + 2e-6);
      assertThat(plan.phy2log()[l]).as("%s layer %d: slots", name, l).hasSize(slots);
      int[] held = new int[weight[l].length];
      for (int e : plan.phy2log()[l]) {
        held[e]++;
      }
      for (int e = 0; e < held.length; e++) {
        assertThat(held[e]).as("%s layer %d: copies of expert %d", name, l, e).isPositive();
        assertThat(plan.logcnt()[l][e])
            .as("%s layer %d: logcnt of expert %d", name, l, e)
            .isEqualTo(held[e]);
      }
    }
  }

  @Test
  void hotExpertsGetCopiesAndEvenTheLoad() {
    // One expert has as many tokens as the other seven together: it gets the spare slots.
    long[][] weight = {{700, 100, 100, 100, 100, 100, 100, 100}};
    ExpertPlacementPlan plan = ExpertPlacementPlanner.plan(weight, 12, 1, 1, 4);
    assertThat(plan.logcnt()[0][0]).isEqualTo(5);
    assertThat(plan.maxOverMean()[0]).isLessThan(1.2);
  }

  @Test
  void parametersThatCannotBeHonouredAreNamed() {
    long[][] weight = {{1, 2, 3, 4}};
    assertThatThrownBy(() -> ExpertPlacementPlanner.plan(weight, 6, 1, 1, 4))
        .hasMessageContaining("--slots must be a multiple of --pools");
    assertThatThrownBy(() -> ExpertPlacementPlanner.plan(weight, 2, 1, 1, 2))
        .hasMessageContaining("--slots must be at least the 4 experts");
    assertThatThrownBy(() -> ExpertPlacementPlanner.plan(weight, 4, 3, 1, 2))
        .hasMessageContaining("--groups must divide 4 experts");
    assertThatThrownBy(() -> ExpertPlacementPlanner.plan(new long[][] {{1, -1}}, 2, 1, 1, 2))
        .hasMessageContaining("negative");
  }
}
