package io.disaggmoe.expert.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.model.config.ModelConfig;
import io.disaggmoe.model.gen.CheckpointGenerator;
import io.disaggmoe.model.gen.Preset;
import io.disaggmoe.model.kernel.KernelThreads;
import io.disaggmoe.model.kernel.MatMul;
import java.lang.reflect.RecordComponent;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A pool's passes run several experts at once on the kernel threads (the `tiny` preset's experts
 * are large enough for that): each token's outputs are those it gets dispatched alone.
 */
class ParallelPassesTest {
  @TempDir static Path dir;
  private static ExpertPool pool;

  @BeforeAll
  static void load() throws Exception {
    CheckpointGenerator.generate(withMoeWidth(Preset.TINY.config(), 256), 5, 1, dir);
    pool = ExpertPool.load(dir, "0/1", List.of());
  }

  /** {@code c} with routed experts of width {@code width}: 192 KiB each in BF16. */
  private static ModelConfig withMoeWidth(ModelConfig c, int width) throws Exception {
    RecordComponent[] parts = ModelConfig.class.getRecordComponents();
    Object[] values = new Object[parts.length];
    Class<?>[] types = new Class<?>[parts.length];
    for (int i = 0; i < parts.length; i++) {
      types[i] = parts[i].getType();
      values[i] =
          parts[i].getName().equals("moeIntermediateSize")
              ? width
              : parts[i].getAccessor().invoke(c);
    }
    return ModelConfig.class.getDeclaredConstructor(types).newInstance(values);
  }

  @AfterAll
  static void close() {
    pool.close();
  }

  @Test
  void eachTokenGetsWhatItGetsAlone() throws Exception {
    // Tokens whose experts cover all of the layer's: passes are run several at a time.
    int dim = pool.config().hiddenSize();
    int k = pool.config().numExpertsPerTok();
    int experts = pool.config().nRoutedExperts();
    int layer = pool.config().firstKDenseReplace();
    int tokens = 6;
    SplittableRandom r = new SplittableRandom(9);
    float[] hidden = new float[tokens * dim];
    for (int i = 0; i < hidden.length; i++) {
      hidden[i] = (float) r.nextGaussian();
    }
    int[] ids = new int[tokens * k];
    float[] weights = new float[tokens * k];
    for (int i = 0; i < ids.length; i++) {
      ids[i] = i % experts;
      weights[i] = (float) r.nextDouble();
    }
    long perExpert = 3L * pool.config().moeIntermediateSize() * dim * 2; // BF16 gate, up, down
    assertThat(DispatchScheduler.PASSES_AT_ONCE * perExpert)
        .as("a group of passes reads enough bytes to be shared among the kernel threads")
        .isGreaterThanOrEqualTo(KernelThreads.MIN_PARALLEL_BYTES);
    float[] together = dispatch(layer, hidden, ids, weights, k);
    for (int t = 0; t < tokens; t++) {
      float[] alone =
          dispatch(
              layer,
              Arrays.copyOfRange(hidden, t * dim, (t + 1) * dim),
              Arrays.copyOfRange(ids, t * k, (t + 1) * k),
              Arrays.copyOfRange(weights, t * k, (t + 1) * k),
              k);
      // A token's k slot rows: [slots, hidden], slot = token * k + j.
      for (int c = 0; c < k * dim; c++) {
        float got = together[t * k * dim + c];
        assertThat(Float.floatToRawIntBits(got))
            .as(
                "token %d, slot %d, value %d: alone %s, together %s",
                t, c / dim, c % dim, alone[c], got)
            .isEqualTo(Float.floatToRawIntBits(alone[c]));
      }
    }
  }

  @Test
  void aDecodeTokenGetsWhatItGetsAloneBesideAPromptOnTheSameExpert() throws Exception {
    // A prompt of more rows than the float kernels take at once, every token on experts 0..k-1,
    // queued with a decode token that chose them too: one pass computes both.
    int dim = pool.config().hiddenSize();
    int k = pool.config().numExpertsPerTok();
    int layer = pool.config().firstKDenseReplace();
    int promptTokens = MatMul.ROW_BLOCK + 36;
    SplittableRandom r = new SplittableRandom(11);
    float[] prompt = new float[promptTokens * dim];
    for (int i = 0; i < prompt.length; i++) {
      prompt[i] = (float) r.nextGaussian();
    }
    float[] token = Arrays.copyOf(prompt, dim);
    int[] promptIds = new int[promptTokens * k];
    float[] promptWeights = new float[promptTokens * k];
    for (int i = 0; i < promptIds.length; i++) {
      promptIds[i] = i % k;
      promptWeights[i] = 1f / k;
    }
    int[] tokenIds = Arrays.copyOf(promptIds, k);
    float[] tokenWeights = Arrays.copyOf(promptWeights, k);
    float[] alone = dispatch(layer, token, tokenIds, tokenWeights, k);
    CompletableFuture<float[]> beside;
    try (PoolPause paused = new PoolPause(pool)) {
      send(layer, prompt, promptIds, promptWeights, k);
      beside = send(layer, token, tokenIds, tokenWeights, k);
    }
    float[] got = beside.get(10, TimeUnit.SECONDS);
    for (int c = 0; c < alone.length; c++) {
      assertThat(Float.floatToRawIntBits(got[c]))
          .as(
              "slot %d, value %d beside a %d-token prompt: alone %s, beside %s",
              c / dim, c % dim, promptTokens, alone[c], got[c])
          .isEqualTo(Float.floatToRawIntBits(alone[c]));
    }
  }

  private static float[] dispatch(int layer, float[] hidden, int[] ids, float[] weights, int k)
      throws Exception {
    return send(layer, hidden, ids, weights, k).get(10, TimeUnit.SECONDS);
  }

  private static CompletableFuture<float[]> send(
      int layer, float[] hidden, int[] ids, float[] weights, int k) {
    ByteBuffer bytes = ByteBuffer.allocate(hidden.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    bytes.asFloatBuffer().put(hidden);
    return pool.dispatch(layer, bytes, ids, weights, k).thenApply(y -> y.toArray());
  }
}
