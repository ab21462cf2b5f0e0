package io.disaggmoe.model.cache;

import static io.disaggmoe.model.testing.TensorAssert.assertClose;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.disaggmoe.model.LocalModel;
import io.disaggmoe.model.layer.AttentionMode;
import io.disaggmoe.model.testing.GoldenCase;
import io.disaggmoe.model.weights.Checkpoint;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Pages hold a sequence exactly, whatever their size; blocks carry a sequence between caches. */
class PagedLatentCacheTest {
  private static final GoldenCase TINY = GoldenCase.named("v3-tiny");

  @Test
  void aCacheRebuiltFromExportedBlocksDecodesIdenticallyAndLeavesNoArrayBehind() throws Exception {
    try (LocalModel model = LocalModel.load(TINY.dir(), AttentionMode.ABSORB)) {
      int weights = model.managedArrayCount();
      rebuildFromBlocks(model);
      assertThat(model.managedArrayCount())
          .as("arrays after both caches closed")
          .isEqualTo(weights);
    }
  }

  private static void rebuildFromBlocks(LocalModel model) {
    try (PagedLatentCache original = model.newCache();
        PagedLatentCache rebuilt = model.newCache()) {
      int[] prompt = TINY.promptIds();
      model.forward(List.of(original), List.of(prompt), false);
      int split = prompt.length / 2;
      rebuilt.appendRows(original.exportRows(0, split), split);
      rebuilt.appendRows(original.exportRows(split, prompt.length), prompt.length - split);
      assertThat(rebuilt.length()).isEqualTo(prompt.length);

      int next = TINY.greedyIds()[0];
      float[] want = model.forward(List.of(original), List.of(new int[] {next}), false).get(0);
      float[] got = model.forward(List.of(rebuilt), List.of(new int[] {next}), false).get(0);
      assertThat(got).as("decode logits after the rebuilt cache").isEqualTo(want);
    }
  }

  @Test
  void smallPagesGiveTheGoldenLogitsAndCarryBlocksAcrossPageSizes() throws Exception {
    for (AttentionMode mode : AttentionMode.values()) {
      try (LocalModel model = LocalModel.load(TINY.dir(), mode);
          LatentPagePool threes = model.newPagePool(3, 1 << 24);
          LatentPagePool fives = model.newPagePool(5, 1 << 24);
          PagedLatentCache paged = new PagedLatentCache(threes);
          PagedLatentCache moved = new PagedLatentCache(fives)) {
        int[] prompt = TINY.promptIds();
        int vocab = model.config().vocabSize();
        // Chunks of 4 then the rest: writes that start inside a page and span several.
        float[] first =
            model.forward(List.of(paged), List.of(Arrays.copyOf(prompt, 4)), true).get(0);
        float[] rest =
            model
                .forward(
                    List.of(paged), List.of(Arrays.copyOfRange(prompt, 4, prompt.length)), true)
                .get(0);
        float[] all = Arrays.copyOf(first, prompt.length * vocab);
        System.arraycopy(rest, 0, all, first.length, rest.length);
        float[] golden;
        try (Checkpoint expected = TINY.expected()) {
          golden =
              expected.readFloats(
                  mode == AttentionMode.ABSORB ? "prefill_logits" : "prefill_logits_naive",
                  prompt.length,
                  vocab);
        }
        assertClose(mode + ": prefill logits over 3-token pages", golden, all, vocab, 1e-5);
        assertThat(paged.pages()).isEqualTo((prompt.length + 2) / 3);
        assertThat(threes.usedPages()).isEqualTo(paged.pages());

        moved.appendRows(paged.exportRows(0, 7), 7);
        moved.appendRows(paged.exportRows(7, prompt.length), prompt.length - 7);
        int next = TINY.greedyIds()[0];
        float[] want = model.forward(List.of(paged), List.of(new int[] {next}), false).get(0);
        float[] got = model.forward(List.of(moved), List.of(new int[] {next}), false).get(0);
        assertClose(mode + ": decode after moving to 5-token pages", want, got, vocab, 1e-6);

        paged.close();
        assertThat(threes.usedPages()).as("pages after close").isZero();
      }
    }
  }

  @Test
  void pagesGivenBackAreHandedOutAgainZeroed() {
    try (LatentPagePool pool = new LatentPagePool(2, 3, 4, 8)) {
      PagedLatentCache first = new PagedLatentCache(pool);
      float[] rows = new float[2 * 5 * 3];
      Arrays.fill(rows, 7f);
      first.appendRows(rows, 5);
      assertThat(first.pages()).isEqualTo(2);
      first.close();
      assertThat(pool.usedPages()).as("pages out after close").isZero();
      assertThat(pool.heldPages()).as("pages kept after close").isEqualTo(2);

      float[] page = pool.take();
      assertThat(page).as("a page handed out again").containsOnly(0f);
      assertThat(pool.usedPages()).isEqualTo(1);
      assertThat(pool.heldPages()).as("pages in memory: one out, one kept").isEqualTo(2);
    }
  }

  @Test
  void aSequenceOnAnotherSequencesPagesGetsTheGoldenLogits() throws Exception {
    try (LocalModel model = LocalModel.load(TINY.dir(), AttentionMode.ABSORB);
        LatentPagePool pool = model.newPagePool(3, 1 << 24)) {
      int[] prompt = TINY.promptIds();
      int vocab = model.config().vocabSize();
      float[] golden;
      try (Checkpoint expected = TINY.expected()) {
        golden = expected.readFloats("prefill_logits", prompt.length, vocab);
      }
      for (int round = 0; round < 2; round++) {
        try (PagedLatentCache cache = new PagedLatentCache(pool)) {
          float[] logits = model.forward(List.of(cache), List.of(prompt), true).get(0);
          assertClose("prefill logits, round " + round, golden, logits, vocab, 1e-5);
        }
        assertThat(pool.heldPages())
            .as("pages kept after round " + round)
            .isEqualTo((prompt.length + 2) / 3);
      }
    }
  }

  @Test
  void aPoolRefusesPagesBeyondItsBudget() throws Exception {
    try (LocalModel model = LocalModel.load(TINY.dir(), AttentionMode.ABSORB)) {
      var c = model.config();
      long pageBytes = 4L * c.numHiddenLayers() * 4 * c.latentDim();
      try (LatentPagePool pool = model.newPagePool(4, 2 * pageBytes + 1);
          PagedLatentCache cache = new PagedLatentCache(pool)) {
        assertThat(pool.maxPages()).isEqualTo(2);
        model.forward(List.of(cache), List.of(new int[] {1, 2, 3, 4, 5, 6, 7, 8}), false);
        assertThatThrownBy(() -> model.forward(List.of(cache), List.of(new int[] {9}), false))
            .isInstanceOf(LatentPagesExhaustedException.class)
            .hasMessageContaining("all 2 latent-cache pages of 4 tokens are in use");
        assertThat(cache.length()).as("a failed step commits nothing").isEqualTo(8);
      }
      assertThatThrownBy(() -> model.newPagePool(4, 100))
          .hasMessageContaining("a KV budget of 100 bytes holds no page of 4 tokens");
    }
  }

  @Test
  void aBlockOfTheWrongSizeIsRefused() throws Exception {
    try (LocalModel model = LocalModel.load(TINY.dir(), AttentionMode.ABSORB);
        PagedLatentCache cache = model.newCache()) {
      assertThatThrownBy(() -> cache.appendRows(new float[7], 2))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("got 7");
      assertThatThrownBy(() -> cache.exportRows(0, 1))
          .hasMessageContaining("outside the committed length 0");
    }
  }
}
