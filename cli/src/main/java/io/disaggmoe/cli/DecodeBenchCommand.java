package io.disaggmoe.cli;

import io.disaggmoe.attention.client.GrpcExpertExecutor;
import io.disaggmoe.model.ComputeThread;
import io.disaggmoe.model.LocalModel;
import io.disaggmoe.model.config.ModelConfig;
import io.disaggmoe.model.expert.LocalExpertExecutor;
import io.disaggmoe.model.kernel.FmaRate;
import io.disaggmoe.model.kernel.KernelThreads;
import io.disaggmoe.model.kernel.ReadBandwidth;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.IntStream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code disaggmoe bench decode}: batched decode throughput of the monolithic model, beside the
 * model with its experts in pools ({@code --expert-pools N}) and the decode role behind gRPC
 * ({@code --split}).
 */
@Command(
    name = "decode",
    mixinStandardHelpOptions = true,
    description =
        "Decode tokens/s and ms per step per batch size, and latent-cache bytes per token.")
final class DecodeBenchCommand implements Callable<Integer> {
  /** Far larger than the last-level cache, so the probe reads memory. */
  private static final int READ_PROBE_BYTES = 256 << 20;

  @Mixin ModelOptions options;

  @Mixin ExpertPoolOptions pools;

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
      description =
          "untimed steps first, on a batch of their own prompts, so that the timed steps begin"
              + " at --context (default ${DEFAULT-VALUE})")
  int warmup;

  @Option(
      names = {"--prompt-len", "--context"},
      defaultValue = "16",
      description =
          "tokens in each sequence's cache before the timed steps; past 16, all but its last 16"
              + " are one prefix shared by every sequence and computed once (default"
              + " ${DEFAULT-VALUE})")
  int promptLength;

  @Option(
      names = "--split",
      description =
          "also time the decode role as a client sees it: kv-cache, prefill and decode"
              + " attention-service processes (using the expert pools when given), with"
              + " concurrent Decode streams batched continuously (mode \"split\")")
  boolean split;

  @Option(names = "--json", description = "print one JSON object instead of a table")
  boolean json;

  /** What a row's weight bytes per step are computed from. */
  record Bound(long stepWeightBytes, long bytesPerExpert) {}

  private static Map<String, Object> row(
      DecodeBenchmark.Result r,
      String mode,
      Boolean overlap,
      double ratio,
      Bound bound,
      StepCost cost) {
    Map<String, Object> row = new LinkedHashMap<>();
    row.put("batch", r.batch());
    row.put("mode", mode);
    if (overlap != null) {
      row.put("overlap", overlap);
    }
    if (!mode.equals("monolithic")) {
      row.put("ratio_to_monolithic", ratio);
    }
    row.put("tokens_per_s", r.tokensPerSecond());
    row.put("ms_per_step", r.msPerStep());
    r.medianMsPerStep().ifPresent(m -> row.put("median_ms_per_step", m));
    r.readBytesPerSecond().ifPresent(b -> row.put("read_gb_s", b / 1e9));
    r.expertPassesPerStep()
        .ifPresent(
            p -> {
              long expertBytes = Math.round(p * bound.bytesPerExpert());
              long weightBytes = bound.stepWeightBytes() + expertBytes;
              row.put("expert_bytes_per_step", expertBytes);
              row.put("weight_bytes_per_step", weightBytes);
            });
    if (r.expertPassesPerStep().isPresent() && !r.timedSteps().isEmpty()) {
      row.put("median_step_fraction_of_bound", medianStepFraction(r.timedSteps(), bound));
    }
    long expertFlops = 2L * r.batch() * cost.expertMacsPerToken();
    row.put("expert_flops_per_step", expertFlops);
    row.put("weight_flops_per_step", expertFlops + 2L * r.batch() * cost.denseMacsPerToken());
    r.positionsPerStep()
        .ifPresent(
            p -> {
              row.put("cache_bytes_per_step", Math.round(p * cost.cacheBytesPerPosition()));
              row.put("attention_flops_per_step", Math.round(p * cost.attentionFlopsPerPosition()));
            });
    return row;
  }

  /**
   * The median over timed steps of each step's bound (its own weight bytes at the read bandwidth of
   * the probe pass run right after it) over its time. Where {@code fraction_of_bound} sets the mean
   * step against the fastest pass of the run, this sets each step against its own seconds: on a
   * shared machine whose bandwidth moves twofold within a minute, what the kernels reach of the
   * bandwidth they had, rather than of the best the machine gave.
   */
  static double medianStepFraction(List<DecodeBenchmark.TimedStep> steps, Bound bound) {
    double[] fractions = new double[steps.size()];
    for (int i = 0; i < fractions.length; i++) {
      DecodeBenchmark.TimedStep s = steps.get(i);
      double bytes = bound.stepWeightBytes() + (double) s.expertPasses() * bound.bytesPerExpert();
      fractions[i] = bytes / s.readBytesPerSecond() / (s.nanos() / 1e9);
    }
    Arrays.sort(fractions);
    int n = fractions.length;
    return (fractions[(n - 1) / 2] + fractions[n / 2]) / 2;
  }

  /**
   * Adds each row's bounds, at its own read rate ({@code read_gb_s}: the probe passes run between
   * its steps) or else at the run's best, {@code bestReadBytesPerSecond}. The weights' bound: its
   * weight bytes per step at that rate. Where its attention's cost is known, the least time that
   * attention can take: reading its cache at that rate or its arithmetic at {@code flopsPerSecond},
   * whichever is longer. And the step's roofline: the same least time for each part (the routed
   * experts, the other weights, attention) added up, which at larger batches and long contexts is
   * arithmetic the weights' bound does not count.
   */
  private static void addBounds(
      List<Map<String, Object>> rows, double bestReadBytesPerSecond, double flopsPerSecond) {
    for (Map<String, Object> row : rows) {
      if (!(row.get("weight_bytes_per_step") instanceof Long weightBytes)) {
        continue;
      }
      double readBytesPerSecond =
          row.get("read_gb_s") instanceof Double gb ? gb * 1e9 : bestReadBytesPerSecond;
      int batch = (Integer) row.get("batch");
      double tokens = (Double) row.get("tokens_per_s");
      double boundTokens = batch * readBytesPerSecond / weightBytes;
      row.put("bound_tokens_per_s", boundTokens);
      row.put("fraction_of_bound", tokens / boundTokens);
      long expertBytes = (Long) row.get("expert_bytes_per_step");
      long weightFlops = (Long) row.get("weight_flops_per_step");
      long expertFlops = (Long) row.get("expert_flops_per_step");
      double seconds =
          Math.max(expertBytes / readBytesPerSecond, expertFlops / flopsPerSecond)
              + Math.max(
                  (weightBytes - expertBytes) / readBytesPerSecond,
                  (weightFlops - expertFlops) / flopsPerSecond);
      if (row.get("cache_bytes_per_step") instanceof Long cache
          && row.get("attention_flops_per_step") instanceof Long flops) {
        double attention = Math.max(cache / readBytesPerSecond, flops / flopsPerSecond);
        row.put("attention_bound_ms_per_step", attention * 1000);
        seconds += attention;
      }
      row.put("roofline_tokens_per_s", batch / seconds);
      row.put("fraction_of_roofline", tokens * seconds / batch);
    }
  }

  private static String format(Map<String, Object> row, String key, double scale, String pattern) {
    Object v = row.get(key);
    return v == null
        ? "-"
        : String.format(Locale.ROOT, pattern, ((Number) v).doubleValue() * scale);
  }

  @Override
  public Integer call() throws Exception {
    if (steps < 1 || promptLength < 1) {
      throw new IllegalArgumentException("--steps and --prompt-len must be >= 1");
    }
    List<Map<String, Object>> results = new ArrayList<>();
    long cacheBytes;
    long residentBytes;
    long checkpointBytes;
    // Per expert pool, the weight bytes it holds (none without --expert-pools).
    List<Long> poolResidentBytes;
    double readBandwidth;
    double fmaRate;
    try (LocalModel m = options.loadLocal();
        ExpertPoolProcesses running = pools.enabled() ? pools.start(options) : null;
        LocalModel remote =
            running == null ? null : ExpertPoolOptions.loadRemote(options, running);
        SplitDeployment roles =
            split
                ? SplitDeployment.start(
                    options, running == null ? List.of() : running.targets(), 64)
                : null) {
      ModelConfig c = m.config();
      // One probe buffer for the run. Five passes before each batch size and after the last, kept
      // at their best (one probe can read at half the rate of the next on a shared machine): the
      // top-level rate and the bound of rows without passes of their own (--split). One pass
      // after each timed step: each row's own rate.
      ReadBandwidth probe = ReadBandwidth.open(ComputeThread.shared(), READ_PROBE_BYTES);
      readBandwidth = probe.best(5);
      fmaRate = FmaRate.measure(ComputeThread.shared());
      StepCost cost = StepCost.of(c);
      LocalExpertExecutor localExperts = (LocalExpertExecutor) m.experts();
      Bound localBound = new Bound(m.stepWeightBytes(), localExperts.experts().bytesPerExpert());
      cacheBytes = cost.cacheBytesPerPosition();
      GrpcExpertExecutor remotePools =
          remote == null ? null : (GrpcExpertExecutor) remote.experts();
      poolResidentBytes = remotePools == null ? List.of() : remotePools.residentBytes();
      // The bench's pools hold no replicas, so together they hold each expert of each MoE layer
      // once.
      long expertCopies =
          c.nRoutedExperts()
              * IntStream.range(0, c.numHiddenLayers()).filter(c::isMoeLayer).count();
      long bytesPerExpert =
          expertCopies == 0
              ? 0
              : poolResidentBytes.stream().mapToLong(Long::longValue).sum() / expertCopies;
      Bound remoteBound =
          remote == null ? null : new Bound(remote.stepWeightBytes(), bytesPerExpert);
      residentBytes = m.residentWeightBytes();
      checkpointBytes = options.checkpointBytes();
      if (!json) {
        System.out.printf(
            "model %s: %d layers, hidden %d, %d routed experts top-%d; %d decode steps after a %d-token prompt%s%n",
            options.model,
            c.numHiddenLayers(),
            c.hiddenSize(),
            c.nRoutedExperts(),
            c.numExpertsPerTok(),
            steps,
            promptLength,
            (running == null ? "" : "; " + pools.pools + " expert-service processes")
                + (roles == null ? "" : "; split: kv-cache + prefill + decode processes"));
        System.out.printf(
            "%-6s %-14s %-8s %-9s %-9s %-14s %-15s %-15s %-12s %-9s %-15s %-14s %-19s %-15s %-12s"
                + " %-10s %s%n",
            "batch",
            "mode",
            "overlap",
            "ms/step",
            "tokens/s",
            "vs monolithic",
            "expert GB/step",
            "weight GB/step",
            "bound tok/s",
            "of bound",
            "median ms/step",
            "cache GB/step",
            "attention ms bound",
            "roofline tok/s",
            "of roofline",
            "read GB/s",
            "median step of bound");
      }
      for (int batch : batches) {
        DecodeBenchmark.Result local =
            DecodeBenchmark.run(
                m, batch, promptLength, warmup, steps, localExperts::passes, probe::pass);
        results.add(row(local, "monolithic", null, 1, localBound, cost));
        if (remote != null) {
          for (boolean overlap : new boolean[] {false, true}) {
            remote.setMicroBatchOverlap(overlap);
            DecodeBenchmark.Result r =
                DecodeBenchmark.run(
                    remote,
                    batch,
                    promptLength,
                    warmup,
                    steps,
                    remotePools::expertPasses,
                    probe::pass);
            results.add(
                row(
                    r,
                    "disaggregated",
                    overlap,
                    r.tokensPerSecond() / local.tokensPerSecond(),
                    remoteBound,
                    cost));
          }
        }
        if (roles != null) {
          DecodeBenchmark.Result r =
              DecodeRoleBenchmark.run(roles, batch, promptLength, warmup, steps, c.vocabSize());
          results.add(
              row(
                  r,
                  "split",
                  null,
                  r.tokensPerSecond() / local.tokensPerSecond(),
                  remoteBound == null ? localBound : remoteBound,
                  cost));
        }
        readBandwidth = Math.max(readBandwidth, probe.best(5));
      }
      addBounds(results, readBandwidth, fmaRate);
      if (!json) {
        for (Map<String, Object> row : results) {
          System.out.printf(
              Locale.ROOT,
              "%-6d %-14s %-8s %-9.2f %-9.1f %-14.2f %-15s %-15s %-12s %-9s %-15s %-14s %-19s %-15s"
                  + " %-12s %-10s %s%n",
              row.get("batch"),
              row.get("mode"),
              row.getOrDefault("overlap", "-"),
              row.get("ms_per_step"),
              row.get("tokens_per_s"),
              row.getOrDefault("ratio_to_monolithic", 1.0),
              format(row, "expert_bytes_per_step", 1e-9, "%.3f"),
              format(row, "weight_bytes_per_step", 1e-9, "%.3f"),
              format(row, "bound_tokens_per_s", 1, "%.1f"),
              format(row, "fraction_of_bound", 1, "%.2f"),
              format(row, "median_ms_per_step", 1, "%.2f"),
              format(row, "cache_bytes_per_step", 1e-9, "%.3f"),
              format(row, "attention_bound_ms_per_step", 1, "%.2f"),
              format(row, "roofline_tokens_per_s", 1, "%.1f"),
              format(row, "fraction_of_roofline", 1, "%.2f"),
              format(row, "read_gb_s", 1, "%.1f"),
              format(row, "median_step_fraction_of_bound", 1, "%.2f"));
        }
        System.out.printf(
            "latent cache: %d bytes per token (%d layers x (%d c_kv + %d k_pe) x float32)%n",
            cacheBytes, c.numHiddenLayers(), c.kvLoraRank(), c.qkRopeHeadDim());
        System.out.printf(
            Locale.ROOT,
            "weights: %.3f GB resident in this process for a %.3f GB checkpoint; read bandwidth"
                + " %.1f GB/s on the %d kernel threads at best; a row's bound: the weight bytes its"
                + " steps must read at its read GB/s, the fastest of probe passes run between"
                + " its timed steps; median step of bound: each timed step's own weight bytes at"
                + " the probe pass run right after it, over its time, the median of its steps%n",
            residentBytes / 1e9,
            checkpointBytes / 1e9,
            readBandwidth / 1e9,
            KernelThreads.count());
        System.out.printf(
            Locale.ROOT,
            "multiply-adds: %.1f GFLOP/s on the %d kernel threads; attention ms bound: the step's"
                + " attention over its cache (%d float operations per cached position) at that"
                + " rate, or its cache bytes at the read bandwidth, whichever takes longer;"
                + " roofline: that least time for the routed experts, the other weights and"
                + " attention, added up%n",
            fmaRate / 1e9,
            KernelThreads.count(),
            cost.attentionFlopsPerPosition());
        if (remote != null) {
          System.out.printf("resident expert bytes per pool: %s%n", poolResidentBytes);
          System.out.println(
              "expert GB/step: routed expert weights the pools read per decode step (their"
                  + " expert passes, each one read of one expert for all the tokens waiting for it,"
                  + " as the pools count them); a CPU decode step's cost follows these passes");
        }
      }
    }
    if (json) {
      Map<String, Object> out = new LinkedHashMap<>();
      out.put("results", results);
      out.put("latent_cache_bytes_per_token", cacheBytes);
      out.put("context", promptLength);
      out.put("resident_weight_bytes", residentBytes);
      out.put("checkpoint_bytes", checkpointBytes);
      if (!poolResidentBytes.isEmpty()) {
        out.put("pool_resident_weight_bytes", poolResidentBytes);
      }
      out.put("read_gb_s", readBandwidth / 1e9);
      out.put("fma_gflops", fmaRate / 1e9);
      out.put("kernel_threads", KernelThreads.count());
      System.out.println(JsonMapper.builder().build().writeValueAsString(out));
    }
    return 0;
  }
}
