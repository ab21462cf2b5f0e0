package io.disaggmoe.model.cache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.disaggmoe.model.LocalModel;
import io.disaggmoe.model.layer.AttentionMode;
import io.disaggmoe.model.testing.GoldenCase;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Blocks exported from one cache and appended to another carry the sequence over exactly. */
class LocalLatentCacheBlocksTest {
  @Test
  void aCacheRebuiltFromExportedBlocksDecodesIdentically() throws Exception {
    GoldenCase golden = GoldenCase.named("v3-tiny");
    try (LocalModel model = LocalModel.load(golden.dir(), AttentionMode.ABSORB);
        LocalLatentCache original = model.newCache();
        LocalLatentCache rebuilt = model.newCache()) {
      int[] prompt = golden.promptIds();
      model.forward(List.of(original), List.of(prompt), false);
      int split = prompt.length / 2;
      rebuilt.appendRows(original.exportRows(0, split), split);
      rebuilt.appendRows(original.exportRows(split, prompt.length), prompt.length - split);
      assertThat(rebuilt.length()).isEqualTo(prompt.length);

      int next = golden.greedyIds()[0];
      float[] want = model.forward(List.of(original), List.of(new int[] {next}), false).get(0);
      float[] got = model.forward(List.of(rebuilt), List.of(new int[] {next}), false).get(0);
      assertThat(got).as("decode logits after the rebuilt cache").isEqualTo(want);
    }
  }

  @Test
  void aBlockOfTheWrongSizeIsRefused() throws Exception {
    try (LocalModel model =
            LocalModel.load(GoldenCase.named("v3-tiny").dir(), AttentionMode.ABSORB);
        LocalLatentCache cache = model.newCache()) {
      assertThatThrownBy(() -> cache.appendRows(new float[7], 2))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("got 7");
      assertThatThrownBy(() -> cache.exportRows(0, 1))
          .hasMessageContaining("outside the committed length 0");
    }
  }
}
