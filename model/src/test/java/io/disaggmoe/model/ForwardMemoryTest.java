package io.disaggmoe.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.disaggmoe.model.cache.PagedLatentCache;
import io.disaggmoe.model.layer.AttentionMode;
import io.disaggmoe.model.testing.GoldenCase;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Many forward calls leave no NDArray behind; bad token ids are refused before any work. */
class ForwardMemoryTest {
  @Test
  void manyRequestsKeepManagedArraysFlat() throws Exception {
    for (AttentionMode mode : AttentionMode.values()) {
      try (LocalModel model = LocalModel.load(GoldenCase.named("v3-tiny").dir(), mode)) {
        int weights = model.managedArrayCount();
        for (int request = 0; request < 30; request++) {
          List<PagedLatentCache> caches = new ArrayList<>();
          List<int[]> prompts = new ArrayList<>();
          for (int s = 0; s < 3; s++) {
            caches.add(model.newCache());
            prompts.add(new int[] {0, 5 + request, 9 + s, 77});
          }
          model.forward(caches, prompts, false);
          for (int step = 0; step < 70; step += 10) {
            model.forward(caches, List.of(new int[] {3}, new int[] {4}, new int[] {5}), false);
          }
          caches.forEach(PagedLatentCache::close);
          assertThat(model.managedArrayCount())
              .as("%s: arrays held by the model after request %d", mode, request)
              .isEqualTo(weights);
        }
      }
    }
  }

  @Test
  void tokenOutsideVocabularyIsRefused() throws Exception {
    try (LocalModel model =
            LocalModel.load(GoldenCase.named("v3-tiny").dir(), AttentionMode.ABSORB);
        PagedLatentCache cache = model.newCache()) {
      assertThatThrownBy(() -> model.forward(List.of(cache), List.of(new int[] {0, 512}), false))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("token 1: id 512 is outside the vocabulary [0, 512)");
      assertThat(cache.length()).isZero();
    }
  }
}
