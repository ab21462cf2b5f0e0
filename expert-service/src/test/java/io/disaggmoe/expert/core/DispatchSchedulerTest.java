package io.disaggmoe.expert.core;

import static io.disaggmoe.model.testing.TensorAssert.assertClose;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.disaggmoe.model.testing.GoldenCase;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** A pool's dispatches as its scheduler runs them: merged passes, their results, their memory. */
class DispatchSchedulerTest {
  private static ExpertPool pool;
  private static int dim;
  private static int experts;

  @BeforeAll
  static void load() throws Exception {
    // v3-tiny: 16 experts of top-4, MoE layers 1..3; one pool holds them all.
    pool = ExpertPool.load(GoldenCase.named("v3-tiny").dir(), "0/1", List.of());
    dim = pool.config().hiddenSize();
    experts = pool.config().nRoutedExperts();
  }

  @AfterAll
  static void close() {
    pool.close();
  }

  /** Seeded random tokens, each with k distinct experts and weights. */
  private record Call(int layer, float[] hidden, int[] ids, float[] weights, int k) {
    static Call random(int layer, int tokens, int k, long seed) {
      SplittableRandom r = new SplittableRandom(seed);
      float[] hidden = new float[tokens * dim];
      for (int i = 0; i < hidden.length; i++) {
        hidden[i] = (float) r.nextGaussian();
      }
      int[] ids = new int[tokens * k];
      float[] weights = new float[tokens * k];
      for (int t = 0; t < tokens; t++) {
        int[] chosen = r.ints(0, experts).distinct().limit(k).toArray();
        for (int j = 0; j < k; j++) {
          ids[t * k + j] = chosen[j];
          weights[t * k + j] = (float) r.nextDouble();
        }
      }
      return new Call(layer, hidden, ids, weights, k);
    }

    CompletableFuture<SlotOutputs> submit() {
      ByteBuffer bytes = ByteBuffer.allocate(hidden.length * 4).order(ByteOrder.LITTLE_ENDIAN);
      bytes.asFloatBuffer().put(hidden);
      return pool.dispatch(layer, bytes, ids.clone(), weights.clone(), k);
    }

    long distinctExperts() {
      return Arrays.stream(ids).distinct().count();
    }
  }

  private static float[] alone(Call c) throws Exception {
    return c.submit().get(10, TimeUnit.SECONDS).toArray();
  }

  @Test
  void dispatchesWaitingTogetherShareOnePassPerExpert() throws Exception {
    Call a = Call.random(1, 6, 4, 1);
    Call b = Call.random(1, 5, 4, 2);
    Call other = Call.random(2, 3, 4, 3);
    long before = pool.expertPasses();
    float[] aAlone = alone(a);
    float[] bAlone = alone(b);
    float[] otherAlone = alone(other);
    assertThat(pool.expertPasses() - before)
        .as("passes run one dispatch at a time")
        .isEqualTo(a.distinctExperts() + b.distinctExperts() + other.distinctExperts());

    CompletableFuture<SlotOutputs> fa;
    CompletableFuture<SlotOutputs> fb;
    CompletableFuture<SlotOutputs> fo;
    try (PoolPause paused = new PoolPause(pool)) {
      fa = a.submit();
      fb = b.submit();
      fo = other.submit();
      before = pool.expertPasses();
    }

    assertClose("a merged vs alone", aAlone, fa.get(10, TimeUnit.SECONDS).toArray(), dim, 1e-6);
    assertClose("b merged vs alone", bAlone, fb.get(10, TimeUnit.SECONDS).toArray(), dim, 1e-6);
    assertClose("other layer", otherAlone, fo.get(10, TimeUnit.SECONDS).toArray(), dim, 1e-6);
    long union =
        java.util.stream.IntStream.concat(Arrays.stream(a.ids), Arrays.stream(b.ids))
            .distinct()
            .count();
    assertThat(pool.expertPasses() - before)
        .as("passes with layer 1's two dispatches waiting together")
        .isEqualTo(union + other.distinctExperts());
  }

  @Test
  void aDispatchWithNothingHereCompletesAtOnceWithNoRows() {
    Call c = Call.random(1, 2, 4, 4);
    Arrays.fill(c.ids, -1);
    CompletableFuture<SlotOutputs> f = c.submit();
    assertThat(f).isCompleted();
    assertThat(f.join().toArray()).isEmpty();
  }

  @Test
  void manyDispatchesLeaveNoArrayBehind() throws Exception {
    alone(Call.random(1, 4, 4, 5));
    int arrays = pool.managedArrayCount();
    for (int i = 0; i < 300; i++) {
      alone(Call.random(1 + i % 3, 1 + i % 8, 4, 100 + i));
    }
    assertThat(pool.managedArrayCount()).as("arrays held by the pool's manager").isEqualTo(arrays);
  }

  @Test
  void aClosedPoolRefusesDispatches() throws Exception {
    ExpertPool closing = ExpertPool.load(GoldenCase.named("v3-tiny").dir(), "0/2", List.of());
    Call c = Call.random(1, 1, 1, 6);
    Arrays.fill(c.ids, 3);
    ByteBuffer bytes = ByteBuffer.allocate(dim * 4).order(ByteOrder.LITTLE_ENDIAN);
    CompletableFuture<SlotOutputs> accepted = closing.dispatch(1, bytes, c.ids, c.weights, 1);
    closing.close();
    assertThat(accepted).as("accepted before close, so completed by it").isCompleted();
    assertThatThrownBy(() -> closing.dispatch(1, bytes, c.ids, c.weights, 1))
        .isInstanceOf(ExpertPoolClosedException.class)
        .hasMessageContaining("shutting down");
  }
}
