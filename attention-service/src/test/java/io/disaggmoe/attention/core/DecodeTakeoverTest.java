package io.disaggmoe.attention.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.model.GreedyForward;
import io.disaggmoe.model.testing.GoldenCase;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A second decode instance takes a request over from the blocks the first wrote back plus the ids
 * it had sent, and continues exactly where the first stopped.
 */
class DecodeTakeoverTest {
  private static final GoldenCase YARN = GoldenCase.named("v3-yarn");
  private static final int BLOCK = 8;

  @Test
  void anotherInstanceResumesFromWrittenBackBlocksWithTheSameTokens() throws Exception {
    try (SplitStack s = stack();
        DecodeEngine first = anotherDecodeInstance(s)) {
      int[] prompt = prompt(53, 11);
      int total = 40;
      PrefillResult prefill = s.prefill("r", "t", prompt, SplitStack.greedy(total), false);
      int t0 = prefill.first().token().tokenId();

      SplitStack.Collector before = new SplitStack.Collector();
      first.submit(job(prompt, new int[] {t0}, prefill, total), before);
      while (before.count() < 17) {
        Thread.sleep(1);
      }
      first.cancel("r"); // the instance is drained: it stops at the next step boundary
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      // Its write-backs and releases run off the step thread: wait for them as a drain would.
      while ((first.runningRequests() > 0 || first.unsettledWork() > 0)
          && System.nanoTime() < deadline) {
        Thread.sleep(1);
      }
      assertThat(first.runningRequests()).isZero();
      assertThat(first.unsettledWork()).isZero();

      List<Integer> sent = new ArrayList<>();
      sent.add(t0);
      synchronized (before) {
        sent.addAll(before.ids);
      }
      int k = sent.size() - 1; // tokens the first instance decoded
      int[] generated = sent.stream().mapToInt(Integer::intValue).toArray();
      SplitStack.Collector after = new SplitStack.Collector();
      s.decode.submit(job(prompt, generated, prefill, total), after);
      after.done.get(60, TimeUnit.SECONDS);

      int[] all = new int[total];
      for (int i = 0; i < generated.length; i++) {
        all[i] = generated[i];
      }
      for (int i = 0; i < after.ids.size(); i++) {
        all[generated.length + i] = after.ids.get(i);
      }
      assertThat(after.ids)
          .as("tokens the second instance added")
          .hasSize(total - generated.length);
      long[] alone = GreedyForward.run(s.model, prompt, total - 1).greedyIds();
      assertThat(all)
          .as("prefill + %d tokens on the first instance + the rest on the second", k)
          .isEqualTo(Arrays.stream(alone).mapToInt(Math::toIntExact).toArray());

      // The first instance had cached 30 + k positions and stored every full block of them.
      int cached = prompt.length + k;
      assertThat(s.decode.fetchedTokens())
          .as("positions loaded from written-back blocks")
          .isEqualTo(cached / BLOCK * BLOCK);
      assertThat(s.decode.recomputedTokens())
          .as("only the unfilled last block is recomputed")
          .isEqualTo(cached % BLOCK);
      assertThat(s.decode.usedPages()).isZero();
    }
  }

  @Test
  void aResumedRequestsLogitsAreTheUndisturbedOnesBitForBit() throws Exception {
    try (SplitStack s = stack();
        DecodeEngine first = anotherDecodeInstance(s)) {
      int[] prompt = prompt(37, 5);
      int total = 40;
      // The first instance decodes k tokens, so it has cached 30 + k = 47 positions: 5 blocks
      // written back, and 7 generated tokens' rows (40..46) only it held.
      int k = 17;
      // The undisturbed run, with its logits: the same prompt under another tenant, so that no
      // block is shared and the prompt is computed in the same single pass.
      PrefillResult once = s.prefill("u", "u", prompt, SplitStack.greedy(total), false);
      SplitStack.Collector undisturbed = new SplitStack.Collector();
      first.submit(
          job("u", "u", prompt, new int[] {once.first().token().tokenId()}, once, total, true),
          undisturbed);
      undisturbed.done.get(60, TimeUnit.SECONDS);

      PrefillResult prefill = s.prefill("r", "t", prompt, SplitStack.greedy(total), false);
      int t0 = prefill.first().token().tokenId();
      SplitStack.Collector before = new SplitStack.Collector();
      first.submit(job(prompt, new int[] {t0}, prefill, k + 1), before);
      before.done.get(60, TimeUnit.SECONDS);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (first.unsettledWork() > 0 && System.nanoTime() < deadline) {
        Thread.sleep(1);
      }
      int[] generated = new int[k + 1];
      generated[0] = t0;
      for (int i = 0; i < k; i++) {
        generated[i + 1] = before.ids.get(i);
      }
      SplitStack.Collector after = new SplitStack.Collector();
      s.decode.submit(job("r", "t", prompt, generated, prefill, total, true), after);
      after.done.get(60, TimeUnit.SECONDS);

      assertThat(s.decode.recomputedTokens()).as("generated rows recomputed").isEqualTo(7);
      assertThat(after.logits).hasSize(total - generated.length);
      for (int i = 0; i < after.logits.size(); i++) {
        float[] got = after.logits.get(i);
        float[] want = undisturbed.logits.get(k + i);
        int at = Arrays.mismatch(got, want);
        assertThat(at)
            .as(
                "decode step %d after the takeover: logit %d is %s, undisturbed %s",
                k + i, at, at < 0 ? "" : got[at], at < 0 ? "" : want[at])
            .isEqualTo(-1);
      }
    }
  }

  @Test
  void aHandleFromAnotherTenantIsRefused() throws Exception {
    try (SplitStack s = stack()) {
      int[] prompt = new int[20];
      Arrays.setAll(prompt, i -> i + 7);
      PrefillResult prefill = s.prefill("r", "t", prompt, SplitStack.greedy(4), false);
      SplitStack.Collector c = new SplitStack.Collector();
      s.decode.submit(
          job(
              "r",
              "someone-else",
              prompt,
              new int[] {prefill.first().token().tokenId()},
              prefill,
              4,
              false),
          c);
      assertThat(c.done)
          .failsWithin(10, TimeUnit.SECONDS)
          .withThrowableThat()
          .havingRootCause()
          .isInstanceOf(IllegalArgumentException.class)
          .withMessageContaining(
              "block_hashes[0] is not the chain hash of prompt_ids under tenant");
      assertThat(s.decode.usedPages()).isZero();
    }
  }

  private static SplitStack stack() throws Exception {
    return new SplitStack(YARN.dir(), 1 << 24, BLOCK, 1 << 24, 512);
  }

  /** A decode instance beside the stack's own, on the same model and kv-cache-service. */
  private static DecodeEngine anotherDecodeInstance(SplitStack s) {
    return new DecodeEngine(
        s.model, s.kv, new CompletionFactory(null, s.model.config()), 1 << 24, 16);
  }

  /** The drained or finished first instance's request, without logits. */
  private static DecodeJob job(int[] prompt, int[] generated, PrefillResult prefill, int total) {
    return job("r", "t", prompt, generated, prefill, total, false);
  }

  private static DecodeJob job(
      String id,
      String tenant,
      int[] prompt,
      int[] generated,
      PrefillResult prefill,
      int total,
      boolean logits) {
    return new DecodeJob(
        id,
        tenant,
        prompt,
        generated,
        prefill.blockHashes(),
        prefill.cacheTokens(),
        SplitStack.greedy(total),
        logits);
  }

  /** 30 token ids of the model's vocabulary, spread by {@code step}. */
  private static int[] prompt(int step, int offset) {
    int[] p = new int[30];
    Arrays.setAll(p, i -> (i * step + offset) % 500 + 2);
    return p;
  }
}
