package io.disaggmoe.cli;

import io.disaggmoe.model.LocalModel;
import io.disaggmoe.model.config.ModelConfig;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import tools.jackson.databind.json.JsonMapper;

/** {@code disaggmoe bench decode}: batched decode throughput of the monolithic model. */
@Command(
    name = "decode",
    mixinStandardHelpOptions = true,
    description =
        "Decode tokens/s and ms per step per batch size, and latent-cache bytes per token.")
final class DecodeBenchCommand implements Callable<Integer> {
  @Mixin ModelOptions options;

  @Option(
      names = "--batch",
      split = ",",
      defaultValue = "1,8,32",
      description = "batch sizes (default ${DEFAULT-VALUE})")
  int[] batches;

  @Option(
      names = "--steps",
      defaultValue = "32",
      description = "timed decode steps per batch size (default ${DEFAULT-VALUE})")
  int steps;

  @Option(
      names = "--warmup",
      defaultValue = "3",
      description = "untimed steps first (default ${DEFAULT-VALUE})")
  int warmup;

  @Option(
      names = "--prompt-len",
      defaultValue = "16",
      description = "prompt tokens per sequence (default ${DEFAULT-VALUE})")
  int promptLength;

  @Option(names = "--json", description = "print one JSON object instead of a table")
  boolean json;

  @Override
  public Integer call() throws Exception {
    if (steps < 1 || promptLength < 1) {
      throw new IllegalArgumentException("--steps and --prompt-len must be >= 1");
    }
    List<Map<String, Object>> results = new ArrayList<>();
    long cacheBytes;
    try (LocalModel m = options.loadLocal()) {
      ModelConfig c = m.config();
      cacheBytes = 4L * c.numHiddenLayers() * c.latentDim();
      if (!json) {
        System.out.printf(
            "model %s: %d layers, hidden %d, %d routed experts top-%d; %d decode steps after a %d-token prompt%n",
            options.model,
            c.numHiddenLayers(),
            c.hiddenSize(),
            c.nRoutedExperts(),
            c.numExpertsPerTok(),
            steps,
            promptLength);
        System.out.printf("%-6s %-11s %-9s %s%n", "batch", "mode", "ms/step", "tokens/s");
      }
      for (int batch : batches) {
        DecodeBenchmark.Result r = DecodeBenchmark.run(m, batch, promptLength, warmup, steps);
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("batch", batch);
        row.put("mode", "monolithic");
        row.put("tokens_per_s", r.tokensPerSecond());
        row.put("ms_per_step", r.msPerStep());
        results.add(row);
        if (!json) {
          System.out.printf(
              "%-6d %-11s %-9.2f %.1f%n", batch, "monolithic", r.msPerStep(), r.tokensPerSecond());
        }
      }
      if (!json) {
        System.out.printf(
            "latent cache: %d bytes per token (%d layers x (%d c_kv + %d k_pe) x float32)%n",
            cacheBytes, c.numHiddenLayers(), c.kvLoraRank(), c.qkRopeHeadDim());
      }
    }
    if (json) {
      Map<String, Object> out = new LinkedHashMap<>();
      out.put("results", results);
      out.put("latent_cache_bytes_per_token", cacheBytes);
      System.out.println(JsonMapper.builder().build().writeValueAsString(out));
    }
    return 0;
  }
}
