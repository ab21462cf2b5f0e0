package io.disaggmoe.expert.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.disaggmoe.model.config.ModelConfigJson;
import io.disaggmoe.model.testing.GoldenCase;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** A pool's limit on what queued dispatches hold: refusals past it, and the room coming back. */
class QueuedBytesLimitTest {
  private static final int TOKENS = 3;
  private static final int K = 2;
  private static ExpertPool pool;
  private static int dim;
  private static long oneDispatch;

  @BeforeAll
  static void load() throws Exception {
    // v3-tiny, all 16 experts in one pool; room for one dispatch of 3 tokens x 2 slots, not two.
    int hidden = ModelConfigJson.read(GoldenCase.named("v3-tiny").dir()).hiddenSize();
    oneDispatch = (TOKENS + TOKENS * K) * (long) hidden * Float.BYTES;
    pool =
        ExpertPool.load(
            GoldenCase.named("v3-tiny").dir(), "0/1", List.of(), 0, oneDispatch * 3 / 2);
    dim = pool.config().hiddenSize();
  }

  @AfterAll
  static void close() {
    pool.close();
  }

  private static CompletableFuture<SlotOutputs> dispatch(int tokens, int[] ids) {
    ByteBuffer hidden = ByteBuffer.allocate(tokens * dim * 4).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < tokens * dim; i++) {
      hidden.putFloat(i * 4, (float) Math.cos(i) * 0.1f);
    }
    float[] weights = new float[ids.length];
    Arrays.fill(weights, 0.5f);
    return pool.dispatch(1, hidden, ids, weights, ids.length / tokens);
  }

  private static int[] slots() {
    return new int[] {0, 1, 2, 3, 4, 5};
  }

  @Test
  void aDispatchPastTheLimitIsRefusedUntilTheQueueDrains() throws Exception {
    float[] alone = dispatch(TOKENS, slots()).get(10, TimeUnit.SECONDS).toArray();
    assertThat(pool.queuedBytes()).as("bytes held once the dispatch completed").isZero();

    CompletableFuture<SlotOutputs> first;
    try (PoolPause paused = new PoolPause(pool)) {
      first = dispatch(TOKENS, slots());
      assertThat(pool.queuedBytes()).isEqualTo(oneDispatch);
      assertThatThrownBy(() -> dispatch(TOKENS, slots()))
          .isInstanceOf(ExpertPoolBusyException.class)
          .hasMessageContaining(
              "expert pool 0/1 has " + oneDispatch + " bytes of dispatches queued")
          .hasMessageContaining("disaggmoe.expert.max-queued");
      // A dispatch none of whose slots is this pool's holds nothing and is still answered.
      assertThat(dispatch(1, new int[] {-1, -1}).get(10, TimeUnit.SECONDS).toArray()).isEmpty();
    }
    assertThat(first.get(10, TimeUnit.SECONDS).toArray()).isEqualTo(alone);
    assertThat(pool.queuedBytes()).isZero();
    assertThat(dispatch(TOKENS, slots()).get(10, TimeUnit.SECONDS).toArray()).isEqualTo(alone);
  }

  @Test
  void aDispatchLargerThanTheWholeLimitRunsWhenNothingElseIsQueued() throws Exception {
    int tokens = 4 * TOKENS;
    int[] ids = new int[tokens * K];
    for (int i = 0; i < ids.length; i++) {
      ids[i] = i % 16;
    }
    CompletableFuture<SlotOutputs> oversized;
    try (PoolPause paused = new PoolPause(pool)) {
      oversized = dispatch(tokens, ids);
      assertThat(pool.queuedBytes()).isGreaterThan(oneDispatch * 3 / 2);
      assertThat(dispatch(1, new int[] {-1, -1}).get(10, TimeUnit.SECONDS).toArray())
          .as("a dispatch holding nothing, behind one over the limit")
          .isEmpty();
    }
    assertThat(oversized.get(10, TimeUnit.SECONDS).size())
        .as("one weighted output row per slot")
        .isEqualTo(ids.length * dim);
    assertThat(pool.queuedBytes()).isZero();
  }
}
