package io.disaggmoe.attention.core;

import static io.disaggmoe.model.testing.TensorAssert.assertClose;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.disaggmoe.kvcache.core.BlockName;
import io.disaggmoe.kvcache.core.KvBlockStore;
import io.disaggmoe.model.GreedyForward;
import io.disaggmoe.model.ModelIdentity;
import io.disaggmoe.model.testing.GoldenCase;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Prefix reuse, tenant salts, capacity, continuous batching and memory of the split roles. */
class KvReuseAndBatchingTest {
  private static final GoldenCase YARN = GoldenCase.named("v3-yarn"); // 128 positions

  private static int[] prompt(int n, int seed) {
    int[] p = new int[n];
    Arrays.setAll(p, i -> (i * 37 + seed * 101) % 500 + 3);
    return p;
  }

  private static int[] greedyAlone(SplitStack s, int[] prompt, int tokens) {
    long[] ids = GreedyForward.run(s.model, prompt, tokens - 1).greedyIds();
    return Arrays.stream(ids).mapToInt(Math::toIntExact).toArray();
  }

  @Test
  void aSharedPrefixIsFetchedNotComputedAndOnlyUnderTheSameTenant() throws Exception {
    try (SplitStack s = new SplitStack(YARN.dir(), 1 << 24, 8, 1 << 24, 512)) {
      int[] first = prompt(90, 1);
      int[] second = Arrays.copyOf(first, 100);
      System.arraycopy(prompt(20, 2), 0, second, 80, 20);

      long t0 = System.nanoTime();
      SplitStack.Output a = s.run("a", "alice", first, SplitStack.greedy(3));
      long coldNanos = System.nanoTime() - t0;
      assertThat(a.prefill().cachedTokens()).isZero();
      assertThat(a.prefill().computedTokens()).isEqualTo(90);

      t0 = System.nanoTime();
      SplitStack.Output b = s.run("b", "alice", second, SplitStack.greedy(3));
      long warmNanos = System.nanoTime() - t0;
      assertThat(b.prefill().cachedTokens())
          .as("the 10 full blocks of 8 shared with the first prompt")
          .isEqualTo(80);
      assertThat(b.prefill().computedTokens()).isEqualTo(20);
      assertThat(b.ids()).isEqualTo(greedyAlone(s, second, 3));
      int vocab = s.model.config().vocabSize();
      float[] whole = GreedyForward.run(s.model, second, 0).prefillLogits();
      assertClose(
          "logits of the 20 computed positions",
          Arrays.copyOfRange(whole, 80 * vocab, 100 * vocab),
          b.prefill().logits(),
          vocab,
          1e-5);
      System.out.printf(
          "prefix reuse: 100-token prompt with 80 cached, %.1f ms vs 90 cold %.1f ms%n",
          warmNanos / 1e6, coldNanos / 1e6);

      SplitStack.Output c = s.run("c", "bob", second, SplitStack.greedy(3));
      assertThat(c.prefill().cachedTokens()).as("another tenant's salt").isZero();
      assertThat(c.prefill().blockHashes())
          .as("block names under bob")
          .noneMatch(h -> b.prefill().blockHashes().stream().anyMatch(x -> Arrays.equals(x, h)));
    }
  }

  @Test
  void underASmallBudgetPinnedBlocksSurviveAndEvictedPrefixesAreRecomputed() throws Exception {
    // 8-token blocks of v3-yarn: 4 layers x 8 x 40 x 4 bytes = 5120 bytes; room for 20 blocks.
    long block = 4L * 8 * 40 * 4;
    try (SplitStack s = new SplitStack(YARN.dir(), 20 * block, 8, 1 << 24, 512)) {
      int[] held = prompt(64, 9);
      PrefillResult inFlight = s.prefill("held", "t", held, SplitStack.greedy(4), false);
      assertThat(s.store.stats().pinnedBytes()).isEqualTo(8 * block);

      List<int[]> churn = new ArrayList<>();
      for (int i = 0; i < 6; i++) {
        churn.add(prompt(40, 20 + i));
        s.run("churn" + i, "t", churn.get(i), SplitStack.greedy(2));
      }
      assertThat(s.store.stats().evictions()).as("the working set exceeds the budget").isPositive();

      // The pinned request's blocks are all still there for its decode.
      SplitStack.Collector held1 = s.startDecode("held", "t", held, inFlight, SplitStack.greedy(4));
      held1.done.get(60, TimeUnit.SECONDS);
      int[] heldIds = new int[4];
      heldIds[0] = inFlight.first().token().tokenId();
      for (int i = 0; i < 3; i++) {
        heldIds[i + 1] = held1.ids.get(i);
      }
      assertThat(heldIds).isEqualTo(greedyAlone(s, held, 4));
      assertThat(s.store.stats().misses()).as("no miss while fetching pinned blocks").isZero();

      // The first churn prompt was evicted: it is recomputed, and correctly.
      SplitStack.Output again = s.run("again", "t", churn.get(0), SplitStack.greedy(2));
      assertThat(again.prefill().cachedTokens()).isLessThan(40);
      assertThat(again.ids()).isEqualTo(greedyAlone(s, churn.get(0), 2));
    }
  }

  @Test
  void requestsJoiningAndLeavingTheBatchGetExactlyTheirAloneTokens() throws Exception {
    try (SplitStack s = new SplitStack(YARN.dir(), 1 << 24, 8, 1 << 24, 512)) {
      int[][] prompts = {prompt(7, 1), prompt(30, 2), prompt(13, 3), prompt(51, 4)};
      int[] lengths = {12, 4, 9, 6};
      List<SplitStack.Collector> streams = new ArrayList<>();
      List<PrefillResult> firsts = new ArrayList<>();
      for (int i = 0; i < prompts.length; i++) {
        PrefillResult p = s.prefill("r" + i, "t", prompts[i], SplitStack.greedy(lengths[i]), false);
        firsts.add(p);
        streams.add(s.startDecode("r" + i, "t", prompts[i], p, SplitStack.greedy(lengths[i])));
        // The next request arrives while this one is mid-stream.
        SplitStack.Collector c = streams.get(i);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (c.count() < 2 && !c.done.isDone() && System.nanoTime() < deadline) {
          Thread.sleep(1);
        }
      }
      for (int i = 0; i < prompts.length; i++) {
        streams.get(i).done.get(60, TimeUnit.SECONDS);
        int[] ids = new int[lengths[i]];
        ids[0] = firsts.get(i).first().token().tokenId();
        for (int j = 1; j < lengths[i]; j++) {
          ids[j] = streams.get(i).ids.get(j - 1);
        }
        assertThat(ids)
            .as("request %d (prompt %d tokens)", i, prompts[i].length)
            .isEqualTo(greedyAlone(s, prompts[i], lengths[i]));
      }
      assertThat(s.decode.runningRequests()).isZero();
      assertThat(s.decode.usedPages()).as("pages held after every request finished").isZero();
      assertThat(s.decode.freeKvBytes()).isEqualTo(s.decode.kvCapacityBytes());
    }
  }

  @Test
  void aCancelledRequestFreesItsSlotAndAnOversizedOneIsRefused() throws Exception {
    long perToken = 4L * 4 * 40;
    try (SplitStack s = new SplitStack(YARN.dir(), 1 << 24, 8, perToken * 100, 512)) {
      int[] p = prompt(20, 5);
      PrefillResult first = s.prefill("long", "t", p, SplitStack.greedy(60), false);
      SplitStack.Collector c = s.startDecode("long", "t", p, first, SplitStack.greedy(60));
      while (c.count() < 2) {
        Thread.sleep(1);
      }
      s.decode.cancel("long");
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (s.decode.runningRequests() > 0 && System.nanoTime() < deadline) {
        Thread.sleep(1);
      }
      assertThat(s.decode.runningRequests()).isZero();
      assertThat(s.decode.usedPages()).as("pages held after the cancel").isZero();
      assertThat(s.decode.freeKvBytes())
          .as("12 pages of 8 tokens fit a budget of 100 tokens")
          .isEqualTo(perToken * 96);
      assertThat(c.count()).as("tokens after cancel").isLessThan(59);

      PrefillResult big = s.prefill("big", "t", p, SplitStack.greedy(90), false);
      SplitStack.Collector refused = s.startDecode("big", "t", p, big, SplitStack.greedy(90));
      assertThatThrownBy(() -> refused.done.get(10, TimeUnit.SECONDS))
          .isInstanceOf(ExecutionException.class)
          .hasCauseInstanceOf(KvBudgetExceededException.class)
          .hasMessageContaining("KV budget");
    }
  }

  @Test
  void manyRequestsLeaveNativeMemoryFlat() throws Exception {
    try (SplitStack s = new SplitStack(YARN.dir(), 1 << 20, 8, 1 << 24, 64)) {
      s.run("warm", "t", prompt(20, 0), SplitStack.greedy(3));
      int arrays = s.model.managedArrayCount();
      for (int i = 0; i < 40; i++) {
        s.run("r" + i, "t" + (i % 3), prompt(10 + i, i), SplitStack.greedy(2 + i % 5));
      }
      assertThat(s.model.managedArrayCount())
          .as("native arrays after 40 requests")
          .isEqualTo(arrays);
      assertThat(s.store.stats().usedBytes()).isLessThanOrEqualTo(1 << 20);
      assertThat(s.store.stats().pinnedBytes()).as("leases released by finished requests").isZero();
    }
  }

  @Test
  void afterAGracefulRestartDiskBlocksAreReusedAndACorruptOneIsRecomputed(@TempDir Path disk)
      throws Exception {
    int[] p = prompt(50, 7);
    int[] want;
    try (SplitStack s =
        new SplitStack(
            YARN.dir(), KvBlockStore.withDisk(1 << 24, 1 << 24, 8, disk), 1 << 24, 512)) {
      SplitStack.Output first = s.run("a", "t", p, SplitStack.greedy(3));
      want = first.ids();
      assertThat(first.prefill().computedTokens()).isEqualTo(50);
    }
    // Flip one byte in the data of the third block's file.
    List<byte[]> hashes =
        KvBlockStore.inMemory(1, 8).match(ModelIdentity.of(YARN.dir()), "t", p).hashes();
    String prefix = BlockName.hash(hashes.get(2)).fileName() + "-";
    Path third;
    try (var files = java.nio.file.Files.list(disk)) {
      third =
          files
              .filter(f -> f.getFileName().toString().startsWith(prefix))
              .findFirst()
              .orElseThrow();
    }
    try (RandomAccessFile f = new RandomAccessFile(third.toFile(), "rw")) {
      f.seek(f.length() - 100);
      int b = f.read();
      f.seek(f.length() - 100);
      f.write(b ^ 1);
    }
    try (SplitStack s =
        new SplitStack(
            YARN.dir(), KvBlockStore.withDisk(1 << 24, 1 << 24, 8, disk), 1 << 24, 512)) {
      SplitStack.Output again = s.run("b", "t", p, SplitStack.greedy(3));
      assertThat(again.prefill().cachedTokens())
          .as("blocks 0 and 1 from disk; block 2 is corrupt, so the prefix ends there")
          .isEqualTo(16);
      assertThat(again.prefill().computedTokens()).isEqualTo(34);
      assertThat(again.ids()).isEqualTo(want);
      assertThat(s.store.stats().corruptBlocks()).isEqualTo(1);
      SplitStack.Output third3 = s.run("c", "t", p, SplitStack.greedy(3));
      assertThat(third3.prefill().cachedTokens())
          .as("the recomputed block was stored again")
          .isEqualTo(48);
    }
  }
}
