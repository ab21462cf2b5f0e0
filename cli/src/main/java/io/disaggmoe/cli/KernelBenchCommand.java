package io.disaggmoe.cli;

import io.disaggmoe.model.ComputeThread;
import io.disaggmoe.model.kernel.KernelThreads;
import io.disaggmoe.model.kernel.MatMul;
import io.disaggmoe.model.kernel.ReadBandwidth;
import io.disaggmoe.model.kernel.WeightMatrix;
import io.disaggmoe.model.layer.Expert;
import io.disaggmoe.model.weights.DType;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code disaggmoe bench kernels}: how fast the BF16 kernels read weights of a decode step's
 * shapes, each pass followed by a pass of the read probe, so that every rate is a fraction of the
 * bandwidth measured in the same seconds. Random weights; no model needed.
 */
@Command(
    name = "kernels",
    mixinStandardHelpOptions = true,
    description =
        "GB/s of weights the BF16 kernels read at a decode step's shapes, each beside a read probe"
            + " pass run right after it.")
final class KernelBenchCommand implements Callable<Integer> {
  private static final int HIDDEN = 1024;
  private static final int EXPERT_WIDTH = 512;
  private static final int WIDE_ROWS = 9216;
  private static final int PROBE_BYTES = 256 << 20;

  @Option(
      names = "--megabytes",
      defaultValue = "128",
      description =
          "weights of each case, in MB: far past the last-level cache, so that they come from"
              + " memory (default ${DEFAULT-VALUE})")
  int megabytes;

  @Option(
      names = "--rounds",
      defaultValue = "8",
      description =
          "rounds through the cases, each pass followed by a probe pass (default"
              + " ${DEFAULT-VALUE})")
  int rounds;

  @Option(names = "--json", description = "print one JSON object instead of a table")
  boolean json;

  /** One kind of pass: its name, the rows each multiplication takes, and how it runs. */
  private record Case(String name, int rows, long bytes, Runnable pass) {}

  @Override
  public Integer call() throws Exception {
    if (megabytes < 3 || rounds < 1) {
      throw new IllegalArgumentException("--megabytes must be >= 3 and --rounds >= 1");
    }
    ComputeThread thread = ComputeThread.shared();
    thread.run(() -> MatMul.warmUp(EnumSet.of(DType.BF16)));
    SplittableRandom random = new SplittableRandom(1);
    long bytes = (long) megabytes << 20;
    List<Case> cases = new ArrayList<>();
    cases.add(matrices("wide matrices", randomMatrices(random, bytes, WIDE_ROWS, HIDDEN)));
    cases.add(matrices("1 MB matrices", randomMatrices(random, bytes, EXPERT_WIDTH, HIDDEN)));
    Expert[] experts = randomExperts(random, bytes);
    for (int rows = 1; rows <= 3; rows++) {
      cases.add(experts(experts, rows));
    }
    ReadBandwidth probe = ReadBandwidth.open(thread, PROBE_BYTES);
    // Each case once untimed: the first pass of a shape pays for compiling its paths.
    for (Case c : cases) {
      thread.run(c.pass());
    }
    // Rounds go through every case in turn, so that each case's passes span the same minutes: the
    // read rate here moves twofold within a minute, and cases timed one after another compared
    // their phases as much as their kernels.
    double[][] rates = new double[cases.size()][rounds];
    double[][] reads = new double[cases.size()][rounds];
    double[][] fractions = new double[cases.size()][rounds];
    for (int r = 0; r < rounds; r++) {
      for (int i = 0; i < cases.size(); i++) {
        Case c = cases.get(i);
        long start = System.nanoTime();
        thread.run(c.pass());
        rates[i][r] = c.bytes() / ((System.nanoTime() - start) / 1e9);
        reads[i][r] = probe.pass();
        fractions[i][r] = rates[i][r] / reads[i][r];
      }
    }
    List<Map<String, Object>> results = new ArrayList<>();
    for (int i = 0; i < cases.size(); i++) {
      Case c = cases.get(i);
      Map<String, Object> row = new LinkedHashMap<>();
      row.put("case", c.name());
      row.put("rows", c.rows());
      row.put("bytes", c.bytes());
      row.put("gb_s", median(rates[i]) / 1e9);
      row.put("read_gb_s", median(reads[i]) / 1e9);
      row.put("fraction_of_read", median(fractions[i]));
      results.add(row);
    }
    print(results);
    return 0;
  }

  private void print(List<Map<String, Object>> results) throws Exception {
    if (json) {
      Map<String, Object> out = new LinkedHashMap<>();
      out.put("results", results);
      out.put("kernel_threads", KernelThreads.count());
      out.put("rounds", rounds);
      System.out.println(JsonMapper.builder().build().writeValueAsString(out));
      return;
    }
    System.out.printf(
        "%-16s %-5s %-9s %-9s %-10s %s%n", "case", "rows", "MB", "GB/s", "read GB/s", "of read");
    for (Map<String, Object> row : results) {
      System.out.printf(
          Locale.ROOT,
          "%-16s %-5d %-9.1f %-9.1f %-10.1f %.2f%n",
          row.get("case"),
          row.get("rows"),
          (Long) row.get("bytes") / 1e6,
          row.get("gb_s"),
          row.get("read_gb_s"),
          row.get("fraction_of_read"));
    }
    System.out.printf(
        "%d kernel threads; %d rounds through the cases, each pass followed by a pass of a %d MB read"
            + " probe; medians of the passes, and of each pass's rate over its probe's%n",
        KernelThreads.count(), rounds, PROBE_BYTES >> 20);
  }

  /** One row through each matrix in turn, each shared among the kernel threads. */
  private static Case matrices(String name, WeightMatrix[] ws) {
    float[] x = new float[HIDDEN];
    Arrays.fill(x, 0.5f);
    float[] y = new float[Arrays.stream(ws).mapToInt(WeightMatrix::rows).max().orElseThrow()];
    long bytes = Arrays.stream(ws).mapToLong(WeightMatrix::bytes).sum();
    return new Case(
        name,
        1,
        bytes,
        () -> {
          for (WeightMatrix w : ws) {
            w.multiply(x, 1, y);
          }
        });
  }

  /** {@code rows} rows through every expert, whole experts shared among the threads. */
  private static Case experts(Expert[] experts, int rows) {
    float[][] x = new float[experts.length][];
    int[] counts = new int[experts.length];
    for (int e = 0; e < experts.length; e++) {
      x[e] = new float[rows * HIDDEN];
      Arrays.fill(x[e], 0.5f);
      counts[e] = rows;
    }
    long bytes = Arrays.stream(experts).mapToLong(Expert::bytes).sum();
    return new Case("experts", rows, bytes, () -> Expert.forwardEach(experts, x, counts, null));
  }

  private static WeightMatrix[] randomMatrices(
      SplittableRandom random, long bytes, int rows, int cols) {
    int count = (int) Math.max(1, bytes / (2L * rows * cols));
    WeightMatrix[] ws = new WeightMatrix[count];
    for (int i = 0; i < count; i++) {
      ws[i] = bf16(random, rows, cols);
    }
    return ws;
  }

  /** Experts of the bench preset's shape: gate and up 512 x 1024, down 1024 x 512. */
  private static Expert[] randomExperts(SplittableRandom random, long bytes) {
    int count = (int) Math.max(1, bytes / (3L * 2 * EXPERT_WIDTH * HIDDEN));
    Expert[] experts = new Expert[count];
    for (int e = 0; e < count; e++) {
      experts[e] =
          new Expert(
              bf16(random, EXPERT_WIDTH, HIDDEN),
              bf16(random, EXPERT_WIDTH, HIDDEN),
              bf16(random, HIDDEN, EXPERT_WIDTH));
    }
    return experts;
  }

  /** Random BF16 weights of magnitude about 1/32, so that sums stay finite. */
  private static WeightMatrix bf16(SplittableRandom random, int rows, int cols) {
    short[] bits = new short[rows * cols];
    for (int i = 0; i < bits.length; i++) {
      bits[i] = (short) (0x3d00 + random.nextInt(0x100) | (random.nextBoolean() ? 0x8000 : 0));
    }
    return WeightMatrix.ofHalf("bench", DType.BF16, rows, cols, bits);
  }

  private static double median(double[] values) {
    return ServeStats.percentile(values, 50);
  }
}
