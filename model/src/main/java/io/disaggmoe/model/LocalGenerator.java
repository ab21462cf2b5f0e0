package io.disaggmoe.model;

import io.disaggmoe.model.cache.PagedLatentCache;
import io.disaggmoe.model.sampling.Completion;
import io.disaggmoe.model.sampling.CompletionStep;
import io.disaggmoe.model.sampling.FinishReason;
import io.disaggmoe.model.sampling.SamplingParams;
import io.disaggmoe.model.text.TextTokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Text generation on a {@link LocalModel}: prefill the prompts together, then decode every
 * unfinished request in one batch per step, each sampled with its own parameters.
 */
public final class LocalGenerator {
  private final LocalModel model;
  private final TextTokenizer tokenizer;

  public LocalGenerator(LocalModel model, TextTokenizer tokenizer) {
    int vocab = model.config().vocabSize();
    if (tokenizer.tokenCount() > vocab) {
      throw new IllegalArgumentException(
          "the tokenizer has "
              + tokenizer.tokenCount()
              + " token ids but the model's vocab_size is "
              + vocab
              + "; this checkpoint cannot run with this tokenizer");
    }
    this.model = model;
    this.tokenizer = tokenizer;
  }

  /** Receives each request's steps as they are produced. */
  @FunctionalInterface
  public interface StepListener {
    void onStep(int request, CompletionStep step);
  }

  /** One finished request. */
  public record Result(int promptTokens, int[] outputIds, String text, FinishReason finishReason) {}

  /** Generates for one prompt. */
  public Result generate(int[] prompt, SamplingParams params, StepListener listener) {
    return generate(List.of(prompt), List.of(params), listener).get(0);
  }

  /** Generates for several prompts at once; results are in the order of the prompts. */
  public List<Result> generate(
      List<int[]> prompts, List<SamplingParams> params, StepListener listener) {
    int n = prompts.size();
    if (params.size() != n) {
      throw new IllegalArgumentException(n + " prompts but " + params.size() + " sampling params");
    }
    List<PagedLatentCache> caches = new ArrayList<>(n);
    try {
      Completion[] completions = new Completion[n];
      StringBuilder[] texts = new StringBuilder[n];
      for (int i = 0; i < n; i++) {
        if (prompts.get(i).length == 0) {
          throw new IllegalArgumentException("prompt " + i + " has no tokens");
        }
        completions[i] =
            new Completion(tokenizer, params.get(i), prompts.get(i), tokenizer.tokenCount());
        texts[i] = new StringBuilder();
        caches.add(model.newCache());
      }
      List<float[]> logits = model.forward(caches, prompts, false);
      int[] active = rangeOf(n);
      while (active.length > 0) {
        List<PagedLatentCache> nextCaches = new ArrayList<>();
        List<int[]> nextTokens = new ArrayList<>();
        int[] stillActive = new int[active.length];
        int kept = 0;
        for (int j = 0; j < active.length; j++) {
          int r = active[j];
          CompletionStep step = completions[r].step(logits.get(j));
          texts[r].append(step.text());
          listener.onStep(r, step);
          if (!step.finished()) {
            stillActive[kept++] = r;
            nextCaches.add(caches.get(r));
            nextTokens.add(new int[] {step.token().tokenId()});
          }
        }
        active = Arrays.copyOf(stillActive, kept);
        if (kept > 0) {
          logits = model.forward(nextCaches, nextTokens, false);
        }
      }
      List<Result> results = new ArrayList<>(n);
      for (int i = 0; i < n; i++) {
        results.add(
            new Result(
                prompts.get(i).length,
                completions[i].outputIds(),
                texts[i].toString(),
                completions[i].finishReason()));
      }
      return results;
    } finally {
      caches.forEach(PagedLatentCache::close);
    }
  }

  private static int[] rangeOf(int n) {
    int[] r = new int[n];
    Arrays.setAll(r, i -> i);
    return r;
  }
}
