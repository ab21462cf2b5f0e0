package io.disaggmoe.model.expert;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import io.disaggmoe.model.config.ModelConfig;
import io.disaggmoe.model.gen.CheckpointGenerator;
import io.disaggmoe.model.gen.Preset;
import io.disaggmoe.model.kernel.KernelThreads;
import io.disaggmoe.model.layer.RoutingDecision;
import io.disaggmoe.model.weights.Checkpoint;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The local executor shares whole experts among the kernel threads: results as if run alone. */
class LocalExpertExecutorTest {
  @TempDir static Path dir;
  static ModelConfig config;
  static RoutedExperts experts;
  static int layer;

  @BeforeAll
  static void generate() throws Exception {
    config = Preset.TINY.config();
    CheckpointGenerator.generate(config, 3, 1, dir);
    try (Checkpoint c = Checkpoint.open(dir, config.quantization())) {
      experts = RoutedExperts.load(c, config, k -> true);
    }
    layer = 0;
    while (!config.isMoeLayer(layer)) {
      layer++;
    }
  }

  @Test
  void expertsSharedAmongThreadsGiveEachTokenItsResultAlone() {
    int dim = config.hiddenSize();
    int k = config.numExpertsPerTok();
    int tokens = 5;
    Random random = new Random(7);
    float[] hidden = new float[tokens * dim];
    for (int i = 0; i < hidden.length; i++) {
      hidden[i] = (float) random.nextGaussian();
    }
    int[][] ids = new int[tokens][k];
    float[][] weights = new float[tokens][k];
    for (int t = 0; t < tokens; t++) {
      for (int j = 0; j < k; j++) {
        ids[t][j] = (t * k + j) % config.nRoutedExperts();
        weights[t][j] = 0.1f + 0.2f * j;
      }
    }
    RoutingDecision routing = new RoutingDecision(ids, weights);
    long bytes = ExpertBatch.group(routing).size() * experts.bytesPerExpert();
    assertThat(bytes)
        .as("the experts of this batch are enough weight bytes to be shared among threads")
        .isGreaterThanOrEqualTo(KernelThreads.MIN_PARALLEL_BYTES);
    try (NDManager manager = NDManager.newBaseManager()) {
      LocalExpertExecutor executor = new LocalExpertExecutor(experts, manager);
      float[] batched = executor.run(layer, hidden, dim, routing);
      for (int t = 0; t < tokens; t++) {
        float[] row = Arrays.copyOfRange(hidden, t * dim, (t + 1) * dim);
        RoutingDecision one = new RoutingDecision(new int[][] {ids[t]}, new float[][] {weights[t]});
        float[] alone = executor.run(layer, row, dim, one);
        for (int c = 0; c < dim; c++) {
          assertThat(Float.floatToRawIntBits(batched[t * dim + c]))
              .as(
                  "token %d, value %d: alone %s, in the batch %s",
                  t, c, alone[c], batched[t * dim + c])
              .isEqualTo(Float.floatToRawIntBits(alone[c]));
        }
      }
    }
  }
}
