package io.disaggmoe.attention.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.model.testing.GoldenCase;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** A caller that cancels a prefill stops its chunks and leaves nothing pinned. */
class PrefillCancelTest {
  @Test
  void aCancelledPromptStopsBetweenChunksAndUnpins() throws Exception {
    GoldenCase golden = GoldenCase.named("v3-tiny");
    // One token per pass: a 200-token prompt takes 200 passes, so the cancel lands mid-way.
    try (SplitStack s = new SplitStack(golden.dir(), 1 << 24, 4, 1 << 24, 1)) {
      int[] prompt = new int[200];
      Arrays.setAll(prompt, i -> 3 + i % 50);
      CompletableFuture<PrefillResult> f =
          s.prefill.submit(new PrefillJob("gone", "t", prompt, SplitStack.greedy(4), false));
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (s.prefill.queuedTokens() > 190 && System.nanoTime() < deadline) {
        Thread.sleep(1);
      }
      f.cancel(false);
      deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (s.prefill.queuedTokens() > 0 && System.nanoTime() < deadline) {
        Thread.sleep(1);
      }
      assertThat(s.prefill.queuedTokens()).as("prompt tokens left to compute").isZero();
      assertThat(s.store.stats().pinnedBytes()).as("bytes pinned for the request").isZero();

      // The engine goes on: the next request is served in full.
      PrefillResult next = s.prefill("next", "t", golden.promptIds(), SplitStack.greedy(4), false);
      assertThat(next.first().token().tokenId()).isEqualTo(golden.greedyIds()[0]);
    }
  }

  @Test
  void aCancelRacingTheFinishLeavesNothingPinned() throws Exception {
    GoldenCase golden = GoldenCase.named("v3-tiny");
    try (SplitStack s = new SplitStack(golden.dir(), 1 << 24, 4, 1 << 24, 512)) {
      for (int i = 0; i < 20; i++) {
        CompletableFuture<PrefillResult> f =
            s.prefill.submit(
                new PrefillJob("r" + i, "t", golden.promptIds(), SplitStack.greedy(4), false));
        Thread.sleep(i % 4);
        if (!f.cancel(false)) {
          // The prompt finished first: its caller owns the pins, as a gateway that went away does.
          s.kv.unpin("r" + i);
        }
      }
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while ((s.prefill.queuedTokens() > 0 || s.store.stats().pinnedBytes() > 0)
          && System.nanoTime() < deadline) {
        Thread.sleep(5);
      }
      assertThat(s.store.stats().pinnedBytes()).as("bytes pinned after 20 cancels").isZero();
    }
  }
}
