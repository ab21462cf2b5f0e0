package io.disaggmoe.model;

import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.model.cache.PagedLatentCache;
import io.disaggmoe.model.layer.AttentionMode;
import io.disaggmoe.model.testing.GoldenCase;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A sequence decoded alone and decoded beside others gets bit-identical logits, so its greedy
 * tokens do not depend on what the server batched it with: every kernel of a decode step sums each
 * row in an order fixed by the row alone.
 */
class BatchInvarianceTest {
  private static final int STEPS = 12;

  @ParameterizedTest
  @EnumSource(AttentionMode.class)
  void decodeLogitsDoNotDependOnTheBatch(AttentionMode mode) throws Exception {
    GoldenCase golden = GoldenCase.named("v3-tiny");
    try (LocalModel model = LocalModel.load(golden.dir(), mode)) {
      List<float[]> alone = decode(model, golden.promptIds(), 0);
      for (int others : new int[] {1, 2, 3, 7}) {
        List<float[]> batched = decode(model, golden.promptIds(), others);
        for (int step = 0; step < STEPS; step++) {
          float[] a = alone.get(step);
          float[] b = batched.get(step);
          for (int v = 0; v < a.length; v++) {
            assertThat(Float.floatToRawIntBits(b[v]))
                .as(
                    "step %d, logit %d: alone %s, beside %d other sequences %s",
                    step, v, a[v], others, b[v])
                .isEqualTo(Float.floatToRawIntBits(a[v]));
          }
        }
      }
    }
  }

  /**
   * Every position of a prompt gets the same logits, bit for bit, however the prompt was computed:
   * in one pass, beside other prompts in the pass (past the float kernels' row block), in chunks
   * (as a prefill's token budget or a cached prefix cuts it), or a position per pass (as decode
   * steps, or a resumed request, compute them). A request's tokens then do not depend on the
   * prefill's batching, on the prefix cache, nor on which instance computed which position.
   */
  @org.junit.jupiter.api.Test
  void aPromptsLogitsDoNotDependOnHowItsPositionsWereComputed() throws Exception {
    GoldenCase golden = GoldenCase.named("v3-tiny");
    try (LocalModel model = LocalModel.load(golden.dir(), AttentionMode.ABSORB)) {
      int vocab = model.config().vocabSize();
      int[] prompt = ids(70, 37, 5, vocab);
      float[] onePass = inChunks(model, prompt, List.of(), prompt.length);
      Map<String, float[]> ways = new LinkedHashMap<>();
      ways.put(
          "beside two prompts",
          inChunks(
              model, prompt, List.of(ids(30, 11, 2, vocab), ids(5, 3, 9, vocab)), prompt.length));
      ways.put("in chunks of 16", inChunks(model, prompt, List.of(), 16));
      ways.put("in chunks of 23", inChunks(model, prompt, List.of(), 23));
      ways.put("a position per pass", inChunks(model, prompt, List.of(), 1));
      ways.forEach(
          (way, got) -> {
            for (int v = 0; v < onePass.length; v++) {
              assertThat(Float.floatToRawIntBits(got[v]))
                  .as(
                      "position %d, logit %d: in one pass %s, %s %s",
                      v / vocab, v % vocab, onePass[v], way, got[v])
                  .isEqualTo(Float.floatToRawIntBits(onePass[v]));
            }
          });
    }
  }

  /**
   * Past one segment of attention (512 positions) a row's positions are cut into segments that the
   * kernel threads share, and its partial results are merged in position order: the last position's
   * logits of a 1064-token prompt are the same bits whether the prompt is prefilled in one pass
   * (1064 rows of up to three segments each), in chunks, or its last positions are decoded one per
   * pass, alone or beside two other long sequences.
   */
  @org.junit.jupiter.api.Test
  void aLongPromptsLastLogitsDoNotDependOnHowItsSegmentsWereShared() throws Exception {
    GoldenCase golden = GoldenCase.named("v3-tiny");
    try (LocalModel model = LocalModel.load(golden.dir(), AttentionMode.ABSORB)) {
      int vocab = model.config().vocabSize();
      // Two segments of 512 positions (AbsorbedDecode.SEGMENT) and a part.
      int[] prompt = ids(2 * 512 + 40, 37, 5, vocab);
      int n = prompt.length;
      float[] onePass = lastLogits(model, prompt, n, n, 0);
      Map<String, float[]> ways = new LinkedHashMap<>();
      ways.put("in chunks of 300", lastLogits(model, prompt, 300, n, 0));
      ways.put("its last 4 positions decoded", lastLogits(model, prompt, n - 4, n - 4, 0));
      ways.put(
          "its last 4 positions decoded beside two sequences of 600 and 900",
          lastLogits(model, prompt, n - 4, n - 4, 2));
      ways.forEach(
          (way, got) -> {
            for (int v = 0; v < vocab; v++) {
              assertThat(Float.floatToRawIntBits(got[v]))
                  .as("logit %d: in one pass %s, %s %s", v, onePass[v], way, got[v])
                  .isEqualTo(Float.floatToRawIntBits(onePass[v]));
            }
          });
    }
  }

  /**
   * The last position's logits of {@code prompt}: its first {@code prefilled} positions in chunks
   * of {@code chunk}, then a position per pass beside {@code others} sequences of their own long
   * prompts.
   */
  private static float[] lastLogits(
      LocalModel model, int[] prompt, int chunk, int prefilled, int others) {
    int vocab = model.config().vocabSize();
    List<PagedLatentCache> caches = new ArrayList<>();
    try {
      PagedLatentCache cache = model.newCache();
      caches.add(cache);
      float[] logits = null;
      int done = 0;
      while (done < prefilled) {
        int to = Math.min(prefilled, done + chunk);
        int[] part = java.util.Arrays.copyOfRange(prompt, done, to);
        logits = model.forward(List.of(cache), List.of(part), false).getFirst();
        done = to;
      }
      List<PagedLatentCache> step = new ArrayList<>(List.of(cache));
      for (int o = 0; o < others; o++) {
        PagedLatentCache other = model.newCache();
        caches.add(other);
        step.add(other);
        model.forward(List.of(other), List.of(ids(600 + 300 * o, 11, o, vocab)), false);
      }
      for (; done < prompt.length; done++) {
        List<int[]> tokens = new ArrayList<>();
        tokens.add(new int[] {prompt[done]});
        for (int o = 0; o < others; o++) {
          tokens.add(new int[] {(done + o) % vocab});
        }
        logits = model.forward(step, tokens, false).getFirst();
      }
      return logits;
    } finally {
      caches.forEach(PagedLatentCache::close);
    }
  }

  private static int[] ids(int n, int step, int offset, int vocab) {
    int[] ids = new int[n];
    for (int i = 0; i < n; i++) {
      ids[i] = (i * step + offset) % vocab;
    }
    return ids;
  }

  /**
   * Every position's logits of {@code prompt}, computed {@code chunk} positions per pass, the first
   * pass beside {@code others} (whole prompts of their own sequences).
   */
  private static float[] inChunks(LocalModel model, int[] prompt, List<int[]> others, int chunk) {
    int vocab = model.config().vocabSize();
    float[] all = new float[prompt.length * vocab];
    List<PagedLatentCache> caches = new ArrayList<>();
    try {
      PagedLatentCache cache = model.newCache();
      caches.add(cache);
      for (int from = 0; from < prompt.length; from += chunk) {
        int[] part =
            java.util.Arrays.copyOfRange(prompt, from, Math.min(prompt.length, from + chunk));
        List<PagedLatentCache> passCaches = new ArrayList<>();
        List<int[]> passTokens = new ArrayList<>();
        if (from == 0) {
          for (int[] other : others) {
            PagedLatentCache c = model.newCache();
            caches.add(c);
            passCaches.add(c);
            passTokens.add(other);
          }
        }
        passCaches.add(cache);
        passTokens.add(part);
        float[] logits = model.forward(passCaches, passTokens, true).getLast();
        System.arraycopy(logits, 0, all, from * vocab, logits.length);
      }
      return all;
    } finally {
      caches.forEach(PagedLatentCache::close);
    }
  }

  /** Greedy decode of {@code prompt} beside {@code others} sequences; its logits per step. */
  private static List<float[]> decode(LocalModel model, int[] prompt, int others) {
    int vocab = model.config().vocabSize();
    List<PagedLatentCache> caches = new ArrayList<>();
    try {
      List<int[]> next = new ArrayList<>();
      for (int s = 0; s <= others; s++) {
        PagedLatentCache cache = model.newCache();
        caches.add(cache);
        int[] p = s == 0 ? prompt : new int[] {(7 * s) % vocab, (13 * s + 1) % vocab, s % vocab};
        // Each prompt is prefilled alone, so only the decode steps are batched differently.
        float[] logits = model.forward(List.of(cache), List.of(p), false).getFirst();
        next.add(new int[] {GreedyForward.argmax(logits, 0, vocab)});
      }
      List<float[]> out = new ArrayList<>();
      for (List<float[]> step : GreedySteps.run(model, caches, next, STEPS)) {
        out.add(step.getFirst());
      }
      return out;
    } finally {
      caches.forEach(PagedLatentCache::close);
    }
  }
}
