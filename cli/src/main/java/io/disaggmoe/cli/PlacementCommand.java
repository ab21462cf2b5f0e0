package io.disaggmoe.cli;

import io.disaggmoe.orchestration.placement.ExpertPlacementPlan;
import io.disaggmoe.orchestration.placement.ExpertPlacementPlanner;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code disaggmoe placement}: plans expert placement offline from observed loads, with redundant
 * copies of hot experts, as the control plane does live.
 */
@Command(
    name = "placement",
    mixinStandardHelpOptions = true,
    description =
        "Plan which expert each physical slot holds, from tokens per expert per layer"
            + " (DeepSeek EPLB's policy: groups onto nodes, copies within a node, copies onto"
            + " pools).")
final class PlacementCommand implements Callable<Integer> {
  @Option(
      names = "--loads",
      required = true,
      description = "JSON file {\"weight\": [[tokens per expert] per layer]}")
  Path loads;

  @Option(
      names = "--slots",
      required = true,
      description = "physical expert slots per layer across all pools (a multiple of --pools)")
  int slots;

  @Option(names = "--groups", defaultValue = "1", description = "expert groups (default 1)")
  int groups;

  @Option(names = "--nodes", defaultValue = "1", description = "nodes (default 1)")
  int nodes;

  @Option(names = "--pools", required = true, description = "expert pools")
  int pools;

  @Option(
      names = "--json",
      description = "print {\"phy2log\", \"logcnt\", \"max_over_mean_per_layer\"}")
  boolean json;

  @Override
  public Integer call() throws Exception {
    ExpertPlacementPlan plan =
        ExpertPlacementPlanner.plan(readWeight(loads), slots, groups, nodes, pools);
    if (json) {
      Map<String, Object> out = new LinkedHashMap<>();
      out.put("phy2log", plan.phy2log());
      out.put("logcnt", plan.logcnt());
      out.put("max_over_mean_per_layer", plan.maxOverMean());
      System.out.println(JsonMapper.shared().writeValueAsString(out));
      return 0;
    }
    int perPool = slots / pools;
    for (int l = 0; l < plan.phy2log().length; l++) {
      System.out.printf(
          Locale.ROOT, "layer %d: max/mean pool load %.4f%n", l, plan.maxOverMean()[l]);
      for (int p = 0; p < pools; p++) {
        StringBuilder experts = new StringBuilder();
        for (int s = p * perPool; s < (p + 1) * perPool; s++) {
          experts.append(s == p * perPool ? "" : " ").append(plan.phy2log()[l][s]);
        }
        System.out.printf(Locale.ROOT, "  pool %d: experts %s%n", p, experts);
      }
    }
    return 0;
  }

  /** The file's {@code weight}, checked to be a rectangle of token counts. */
  static long[][] readWeight(Path file) {
    JsonNode weight;
    try {
      weight = JsonMapper.shared().readTree(file.toFile()).get("weight");
    } catch (JacksonException e) {
      throw new IllegalArgumentException(file + " is not JSON: " + e.getOriginalMessage(), e);
    }
    if (weight == null || !weight.isArray() || weight.isEmpty()) {
      throw new IllegalArgumentException(
          file + " has no \"weight\": [[tokens per expert] per layer]");
    }
    long[][] out = new long[weight.size()][];
    for (int l = 0; l < out.length; l++) {
      JsonNode layer = weight.get(l);
      if (!layer.isArray()) {
        throw new IllegalArgumentException(file + ": weight[" + l + "] is not an array");
      }
      out[l] = new long[layer.size()];
      for (int e = 0; e < out[l].length; e++) {
        JsonNode t = layer.get(e);
        if (!t.isIntegralNumber() || t.asLong() < 0) {
          throw new IllegalArgumentException(
              file + ": weight[" + l + "][" + e + "] is not a token count: " + t);
        }
        out[l][e] = t.asLong();
      }
    }
    return out;
  }
}
