package io.disaggmoe.model;

import static io.disaggmoe.model.testing.TensorAssert.assertClose;
import static io.disaggmoe.model.testing.TensorAssert.row;

import io.disaggmoe.model.cache.PagedLatentCache;
import io.disaggmoe.model.layer.AttentionMode;
import io.disaggmoe.model.testing.GoldenCase;
import io.disaggmoe.model.weights.Checkpoint;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Sequences of different lengths prefilled together and decoded in one batch get exactly the logits
 * each gets alone: the packed batch never leaks between sequences.
 */
class BatchedForwardTest {
  @ParameterizedTest(name = "micro-batch overlap {0}")
  @ValueSource(booleans = {false, true})
  void batchedPrefillAndDecodeEqualSingleSequenceReference(boolean overlap) throws Exception {
    GoldenCase golden = GoldenCase.named("v3-yarn");
    try (LocalModel model = LocalModel.load(golden.dir(), AttentionMode.ABSORB);
        Checkpoint expected = golden.expected();
        PagedLatentCache a = model.newCache();
        PagedLatentCache b = model.newCache();
        PagedLatentCache c = model.newCache()) {
      model.setMicroBatchOverlap(overlap);
      int vocab = model.config().vocabSize();
      int[] prompt = golden.promptIds();
      int[] greedy = golden.greedyIds();
      int[] shortPrompt = Arrays.copyOf(prompt, 5);
      int[] otherPrompt = {0, 17, 42, 99, 3, 250, 7, 8, 300, 12, 13, 14, 15};

      List<float[]> prefill =
          model.forward(List.of(b, a, c), List.of(shortPrompt, prompt, otherPrompt), true);
      float[] expectedPrefill = expected.readFloats("prefill_logits", prompt.length, vocab);
      assertClose(
          "batched prefill of the golden prompt", expectedPrefill, prefill.get(1), vocab, 1e-4);
      assertClose(
          "batched prefill of a 5-token prefix",
          Arrays.copyOf(expectedPrefill, 5 * vocab),
          prefill.get(0),
          vocab,
          1e-4);

      float[] expectedDecode =
          expected.readFloats("decode_logits_absorb", greedy.length - 1, vocab);
      for (int j = 0; j < greedy.length - 1; j++) {
        List<float[]> step =
            model.forward(
                List.of(c, a, b),
                List.of(new int[] {5 + j}, new int[] {greedy[j]}, new int[] {prompt[5 + j]}),
                false);
        assertClose(
            "batched decode step " + j, row(expectedDecode, j, vocab), step.get(1), vocab, 1e-4);
        // b re-reads the golden prompt one token at a time: its logits follow the prefill's.
        assertClose(
            "incremental prefill position " + (5 + j),
            row(expectedPrefill, 5 + j, vocab),
            step.get(2),
            vocab,
            1e-4);
      }
    }
  }
}
