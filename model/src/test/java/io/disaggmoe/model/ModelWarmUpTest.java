package io.disaggmoe.model;

import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.model.cache.PagedLatentCache;
import io.disaggmoe.model.layer.AttentionMode;
import io.disaggmoe.model.testing.GoldenCase;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class ModelWarmUpTest {
  @Test
  void warmsUpWithPromptsAndStepsAndLeavesTheModelsOutputsAsTheyWere() throws Exception {
    GoldenCase golden = GoldenCase.named("v3-tiny");
    try (LocalModel model = LocalModel.load(golden.dir(), AttentionMode.ABSORB)) {
      List<float[]> before = prefillAndDecode(model, golden.promptIds());
      ModelWarmUp.Result warm = ModelWarmUp.run(model, Duration.ofMillis(1500), 4);
      assertThat(warm.prompts()).as("prompts prefilled in %s", warm.took()).isPositive();
      assertThat(warm.steps()).as("decode steps in %s", warm.took()).isPositive();
      assertThat(warm.took()).isGreaterThanOrEqualTo(Duration.ofMillis(1500));
      List<float[]> after = prefillAndDecode(model, golden.promptIds());
      for (int step = 0; step < before.size(); step++) {
        assertThat(after.get(step))
            .as("step %d's logits after the warm-up against before it", step)
            .containsExactly(before.get(step));
      }
    }
  }

  @Test
  void aZeroBudgetRunsNothing() throws Exception {
    GoldenCase golden = GoldenCase.named("v3-tiny");
    try (LocalModel model = LocalModel.load(golden.dir(), AttentionMode.ABSORB)) {
      ModelWarmUp.Result warm = ModelWarmUp.run(model, Duration.ZERO, 8);
      assertThat(warm.prompts()).isZero();
      assertThat(warm.steps()).isZero();
    }
  }

  /** The prompt's last logits, then 6 greedy steps' logits. */
  private static List<float[]> prefillAndDecode(LocalModel model, int[] prompt) {
    try (PagedLatentCache cache = model.newCache()) {
      List<float[]> out = new ArrayList<>();
      float[] first = model.forward(List.of(cache), List.of(prompt), false).get(0);
      out.add(first);
      int next = GreedyForward.argmax(first, 0, model.config().vocabSize());
      for (List<float[]> step :
          GreedySteps.run(model, List.of(cache), List.of(new int[] {next}), 6)) {
        out.add(step.get(0));
      }
      return out;
    }
  }
}
