package io.disaggmoe.orchestration.rebalance;

import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.orchestration.placement.ExpertPlacementPlan;
import io.disaggmoe.orchestration.placement.ExpertPlacementPlanner;
import io.disaggmoe.proto.v1.ExpertLoad;
import io.disaggmoe.proto.v1.LayerLoad;
import java.util.List;
import java.util.SortedMap;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

class PoolPlacementsTest {
  private static final List<Integer> LAYERS = List.of(1, 2);

  private static SortedMap<Integer, SortedSet<Integer>> same(Integer... experts) {
    SortedMap<Integer, SortedSet<Integer>> m = new TreeMap<>();
    LAYERS.forEach(l -> m.put(l, new TreeSet<>(List.of(experts))));
    return m;
  }

  private static PoolPlacements.Placements halves() {
    PoolPlacements.Placements p = new PoolPlacements.Placements();
    p.put("a", same(0, 1, 2, 3));
    p.put("b", same(4, 5, 6, 7));
    return p;
  }

  @Test
  void aPlanEvensASkewThatTheHalvesDoNot() {
    // Every token goes to experts 0 and 1, both in pool a.
    long[][] load = {{50, 50, 1, 1, 1, 1, 1, 1}, {50, 50, 1, 1, 1, 1, 1, 1}};
    double before = PoolPlacements.maxOverMean(halves(), load, LAYERS);
    ExpertPlacementPlan plan = ExpertPlacementPlanner.plan(load, 10, 1, 1, 2);
    PoolPlacements.Placements after = PoolPlacements.of(plan, LAYERS, List.of("a", "b"));
    assertThat(before).isCloseTo(102.0 / 53, org.assertj.core.data.Offset.offset(1e-9));
    assertThat(PoolPlacements.maxOverMean(after, load, LAYERS)).isLessThan(1.1);
    for (var pool : after.values()) {
      assertThat(pool.get(1)).as("each pool's slots").hasSizeLessThanOrEqualTo(5);
    }
    SortedSet<Integer> all = new TreeSet<>(after.get("a").get(1));
    all.addAll(after.get("b").get(1));
    assertThat(all).as("every expert placed").containsExactly(0, 1, 2, 3, 4, 5, 6, 7);
  }

  @Test
  void orphansGoToTheLightestSurvivorsAndNothingElseMoves() {
    PoolPlacements.Placements survivors = new PoolPlacements.Placements();
    survivors.put("a", same(0, 1));
    survivors.put("b", same(2, 3));
    long[][] load = {{9, 9, 1, 1, 8, 1}, {1, 1, 1, 1, 1, 1}};
    PoolPlacements.Placements covered = PoolPlacements.coverOrphans(survivors, load, LAYERS, 6);
    // Layer 1: orphan 4 (8 tokens) to b (2 tokens), then 5 (1 token) to b (10) vs a (18).
    assertThat(covered.get("a").get(1)).containsExactly(0, 1);
    assertThat(covered.get("b").get(1)).containsExactly(2, 3, 4, 5);
    // Layer 2: all even: 4 to a (fewest experts break the tie by order), then 5 to b.
    assertThat(covered.get("a").get(2)).containsExactly(0, 1, 4);
    assertThat(covered.get("b").get(2)).containsExactly(2, 3, 5);
    assertThat(survivors.get("a").get(1)).as("the input is left as it was").containsExactly(0, 1);
  }

  @Test
  void theLedgerCountsSinceTheLastSwitchAndForgivesARestart() {
    ExpertLoadLedger ledger = new ExpertLoadLedger();
    ledger.report("a", load(5, 7));
    ledger.report("b", load(1, 0));
    assertThat(ledger.window(List.of(1), 2)).isDeepEqualTo(new long[][] {{6, 7}});
    ledger.switched();
    ledger.report("a", load(6, 9));
    assertThat(ledger.window(List.of(1), 2)).isDeepEqualTo(new long[][] {{1, 2}});
    ledger.report("b", load(0, 3));
    assertThat(ledger.window(List.of(1), 2))
        .as("b restarted: all it counted since counts")
        .isDeepEqualTo(new long[][] {{1, 5}});
  }

  private static ExpertLoad load(long... tokens) {
    LayerLoad.Builder l = LayerLoad.newBuilder().setLayer(1);
    for (long t : tokens) {
      l.addTokensPerExpert(t);
    }
    return ExpertLoad.newBuilder().addLayers(l).build();
  }
}
