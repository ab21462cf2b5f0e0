package io.disaggmoe.model;

import static io.disaggmoe.model.testing.TensorAssert.assertClose;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import io.disaggmoe.model.cache.PagedLatentCache;
import io.disaggmoe.model.config.ModelConfig;
import io.disaggmoe.model.config.ModelConfigJson;
import io.disaggmoe.model.expert.LocalExpertExecutor;
import io.disaggmoe.model.expert.RoutedExperts;
import io.disaggmoe.model.layer.AttentionMode;
import io.disaggmoe.model.testing.CheckpointRewriter;
import io.disaggmoe.model.testing.GoldenCase;
import io.disaggmoe.model.weights.Checkpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The two halves of the split deployment load from checkpoints that hold only their own tensors:
 * attention without any routed expert, a pool with only its experts, and together they reproduce
 * the reference.
 */
class PartialLoadTest {
  @TempDir Path tmp;

  /** A copy of {@code src} keeping only the tensors {@code keep} accepts. */
  private Path filtered(Path src, String name, Predicate<String> keep) throws Exception {
    return CheckpointRewriter.rewrite(
        src, tmp.resolve(name), t -> t.removeIf(p -> !keep.test(p.name())));
  }

  @Test
  void attentionWithoutExpertsPlusPoolWithOnlyItsExpertsMatchReference() throws Exception {
    GoldenCase golden = GoldenCase.named("v3-fp8");
    Path attention = filtered(golden.dir(), "attention", n -> !n.contains(".mlp.experts."));
    Path poolLow =
        filtered(golden.dir(), "pool-low", n -> !n.contains(".mlp.experts.") || expert(n) < 8);
    Path poolHigh =
        filtered(golden.dir(), "pool-high", n -> n.contains(".mlp.experts.") && expert(n) >= 8);
    ModelConfig config = ModelConfigJson.read(golden.dir());
    int vocab = config.vocabSize();
    try (NDManager manager = NDManager.newBaseManager();
        Checkpoint low = Checkpoint.open(poolLow, config.quantization());
        Checkpoint high = Checkpoint.open(poolHigh, config.quantization())) {
      RoutedExperts lowExperts = RoutedExperts.load(low, config, k -> k.expert() < 8);
      RoutedExperts highExperts = RoutedExperts.load(high, config, k -> k.expert() >= 8);
      LocalExpertExecutor lowPool = new LocalExpertExecutor(lowExperts, manager);
      LocalExpertExecutor highPool = new LocalExpertExecutor(highExperts, manager);
      try (LocalModel model =
              LocalModel.load(
                  attention,
                  AttentionMode.ABSORB,
                  (layer, hidden, dim, routing) -> {
                    // Each token's experts span both shards: split by shard, sum the partials.
                    var split = SplitRouting.byExpert(routing, 8);
                    float[] sum = lowPool.run(layer, hidden, dim, split.low());
                    float[] upper = highPool.run(layer, hidden, dim, split.high());
                    for (int i = 0; i < sum.length; i++) {
                      sum[i] += upper[i];
                    }
                    return CompletableFuture.completedFuture(sum);
                  });
          PagedLatentCache cache = model.newCache();
          Checkpoint expected = golden.expected()) {
        int[] prompt = golden.promptIds();
        float[] prefill = model.forward(List.of(cache), List.of(prompt), true).get(0);
        assertClose(
            "split prefill",
            expected.readFloats("prefill_logits", prompt.length, vocab),
            prefill,
            vocab,
            1e-4);
      }
      assertThatThrownBy(() -> lowExperts.get(1, 9))
          .hasMessageContaining("expert 9 of layer 1 is not held here");
      assertThatThrownBy(() -> RoutedExperts.load(low, config, k -> true))
          .hasMessageContaining("tensor 'model.layers.1.mlp.experts.8.gate_proj.weight' not found");
    }
    assertThat(Files.size(attention.resolve("model.safetensors")))
        .isLessThan(Files.size(golden.dir().resolve("model.safetensors")));
  }

  private static int expert(String name) {
    String rest = name.substring(name.indexOf(".mlp.experts.") + ".mlp.experts.".length());
    return Integer.parseInt(rest.substring(0, rest.indexOf('.')));
  }
}
