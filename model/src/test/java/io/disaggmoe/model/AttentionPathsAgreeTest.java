package io.disaggmoe.model;

import static io.disaggmoe.model.testing.TensorAssert.assertClose;

import io.disaggmoe.model.cache.PagedLatentCache;
import io.disaggmoe.model.layer.AttentionMode;
import io.disaggmoe.model.testing.GoldenCase;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Naive and absorbed attention give the same logits, prefill and decode, on every golden model. */
class AttentionPathsAgreeTest {
  static java.util.stream.Stream<GoldenCase> cases() {
    return GoldenCase.all();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void naiveEqualsAbsorbed(GoldenCase golden) throws Exception {
    List<float[]> absorbed = run(golden, AttentionMode.ABSORB);
    List<float[]> naive = run(golden, AttentionMode.NAIVE);
    int vocab = absorbed.get(absorbed.size() - 1).length;
    for (int i = 0; i < absorbed.size(); i++) {
      assertClose(
          golden + " step " + i + " absorb vs naive", absorbed.get(i), naive.get(i), vocab, 1e-4);
    }
  }

  private static List<float[]> run(GoldenCase golden, AttentionMode mode) throws Exception {
    try (LocalModel model = LocalModel.load(golden.dir(), mode);
        PagedLatentCache cache = model.newCache()) {
      List<float[]> out = new ArrayList<>();
      out.add(model.forward(List.of(cache), List.of(golden.promptIds()), true).get(0));
      for (int id : golden.greedyIds()) {
        out.add(model.forward(List.of(cache), List.of(new int[] {id}), false).get(0));
      }
      return out;
    }
  }
}
