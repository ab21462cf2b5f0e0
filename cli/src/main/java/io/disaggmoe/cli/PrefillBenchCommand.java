package io.disaggmoe.cli;

import io.disaggmoe.model.LocalModel;
import io.disaggmoe.model.cache.PagedLatentCache;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code disaggmoe bench prefill}: prefill tokens/s of the monolithic model, per prompt length and
 * batch, each batch's prompts in one forward pass as the prefill role runs a chunk.
 */
@Command(
    name = "prefill",
    mixinStandardHelpOptions = true,
    description = "Prefill tokens/s per prompt length and batch size.")
final class PrefillBenchCommand implements Callable<Integer> {
  @Mixin ModelOptions options;

  @Option(
      names = "--prompt-len",
      split = ",",
      defaultValue = "512,2048",
      description = "prompt lengths (default ${DEFAULT-VALUE})")
  int[] promptLengths;

  @Option(
      names = "--batch",
      split = ",",
      defaultValue = "1,4",
      description = "sequences prefilled together (default ${DEFAULT-VALUE})")
  int[] batches;

  @Option(
      names = "--rounds",
      defaultValue = "2",
      description = "timed rounds per case; the best is kept (default ${DEFAULT-VALUE})")
  int rounds;

  @Option(names = "--json", description = "print one JSON object instead of a table")
  boolean json;

  @Override
  public Integer call() throws Exception {
    if (rounds < 1) {
      throw new IllegalArgumentException("--rounds must be >= 1");
    }
    List<Map<String, Object>> results = new ArrayList<>();
    try (LocalModel m = options.loadLocal()) {
      // One untimed pass, so that the first case does not pay for compiling the kernels.
      time(m, 1, Math.min(128, promptLengths[0]));
      if (!json) {
        System.out.printf("%-10s %-6s %-10s %s%n", "prompt", "batch", "seconds", "tokens/s");
      }
      for (int length : promptLengths) {
        for (int batch : batches) {
          double best = Double.MAX_VALUE;
          for (int r = 0; r < rounds; r++) {
            best = Math.min(best, time(m, batch, length));
          }
          Map<String, Object> row = new LinkedHashMap<>();
          row.put("prompt_len", length);
          row.put("batch", batch);
          row.put("seconds", best);
          row.put("tokens_per_s", (double) length * batch / best);
          results.add(row);
          if (!json) {
            System.out.printf(
                Locale.ROOT,
                "%-10d %-6d %-10.3f %.1f%n",
                length,
                batch,
                best,
                (double) length * batch / best);
          }
        }
      }
    }
    if (json) {
      Map<String, Object> out = new LinkedHashMap<>();
      out.put("results", results);
      System.out.println(JsonMapper.builder().build().writeValueAsString(out));
    }
    return 0;
  }

  /** Seconds to prefill {@code batch} seeded random prompts of {@code length} tokens at once. */
  private static double time(LocalModel m, int batch, int length) {
    SplittableRandom random = new SplittableRandom(length * 31L + batch);
    List<PagedLatentCache> caches = new ArrayList<>();
    try {
      List<int[]> prompts = new ArrayList<>();
      for (int s = 0; s < batch; s++) {
        caches.add(m.newCache());
        prompts.add(random.ints(length, 0, m.config().vocabSize()).toArray());
      }
      long start = System.nanoTime();
      m.forward(caches, prompts, false);
      return (System.nanoTime() - start) / 1e9;
    } finally {
      caches.forEach(PagedLatentCache::close);
    }
  }
}
