package io.disaggmoe.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.orchestration.placement.ExpertPlacementPlan;
import io.disaggmoe.orchestration.placement.ExpertPlacementPlanner;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** {@code placement}'s contract: its flags, the JSON it prints, and errors naming the file. */
class PlacementCommandTest {
  @TempDir Path tmp;

  @Test
  void printsThePlanAsJsonWithTheContractedKeys() throws Exception {
    long[][] weight = new long[3][32];
    SplittableRandom r = new SplittableRandom(5);
    for (long[] layer : weight) {
      Arrays.setAll(layer, e -> (long) (10_000 / Math.pow(1 + r.nextInt(32), 1.1)));
    }
    Path loads = tmp.resolve("loads.json");
    Files.writeString(
        loads, JsonMapper.shared().writeValueAsString(java.util.Map.of("weight", weight)));
    CliRun run =
        CliRun.run(
            "placement",
            "--loads",
            loads.toString(),
            "--slots",
            "40",
            "--groups",
            "4",
            "--nodes",
            "2",
            "--pools",
            "4",
            "--json");
    assertThat(run.exitCode()).as(run.err()).isZero();
    JsonNode out = JsonMapper.shared().readTree(run.out());
    ExpertPlacementPlan plan = ExpertPlacementPlanner.plan(weight, 40, 4, 2, 4);
    assertThat(out.propertyNames()).containsExactly("phy2log", "logcnt", "max_over_mean_per_layer");
    for (int l = 0; l < 3; l++) {
      assertThat(out.get("phy2log").get(l).size()).isEqualTo(40);
      assertThat(out.get("logcnt").get(l).size()).isEqualTo(32);
      assertThat(out.get("max_over_mean_per_layer").get(l).asDouble())
          .isEqualTo(plan.maxOverMean()[l]);
    }
  }

  @Test
  void aLoadsFileWithoutWeightIsRefusedNamingIt() throws Exception {
    Path loads = Files.writeString(tmp.resolve("bad.json"), "{\"weights\": [[1, 2]]}");
    CliRun run =
        CliRun.run("placement", "--loads", loads.toString(), "--slots", "2", "--pools", "2");
    assertThat(run.exitCode()).isNotZero();
    assertThat(run.err()).contains(loads.toString()).contains("\"weight\"");
  }
}
