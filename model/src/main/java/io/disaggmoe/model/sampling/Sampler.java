package io.disaggmoe.model.sampling;

import io.disaggmoe.model.kernel.Vectors;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.random.RandomGenerator;
import java.util.random.RandomGeneratorFactory;

/**
 * Picks one request's next token from the model's logits.
 *
 * <p>Order, as in vLLM: logit bias, repetition/frequency/presence penalties, then greedy argmax, or
 * temperature, min-p, top-k, top-p and a draw. Each request owns its random stream and draws once
 * per sampled token, so a seeded request gives the same tokens whatever else shares its batch.
 * Reported log probabilities are those of the raw logits (vLLM's default), not of the processed
 * distribution.
 */
public final class Sampler {
  private static final RandomGeneratorFactory<RandomGenerator> RANDOM =
      RandomGeneratorFactory.of("L64X128MixRandom");

  /**
   * A draw's probabilities and a log-softmax's exponentials, one array a thread (a decode loop's),
   * rather than 0.5 MB allocated and zeroed for every token of DeepSeek-V3's vocabulary.
   */
  private static final ThreadLocal<float[]> PROBABILITIES =
      ThreadLocal.withInitial(() -> new float[0]);

  /** First guess at how many top tokens hold the top-p mass; grows when they do not. */
  private static final int NUCLEUS_GUESS = 256;

  private final SamplingParams params;
  private final int vocabSize;
  private final RandomGenerator random;
  private final Map<Integer, Integer> outputCounts = new HashMap<>();
  private final Set<Integer> seen = new HashSet<>();

  /**
   * @param vocabSize how many ids may be sampled; logits may be longer (a model's vocab_size is
   *     often padded past the tokenizer's last id), and their tail is ignored
   */
  public Sampler(SamplingParams params, int[] promptIds, int vocabSize) {
    this.params = params;
    this.vocabSize = vocabSize;
    this.random = params.seed() == null ? RANDOM.create() : RANDOM.create(params.seed());
    for (int id : params.logitBias().keySet()) {
      checkInVocab(id, "logit_bias");
    }
    for (int id : params.stopTokenIds()) {
      checkInVocab(id, "stop_token_ids");
    }
    if (params.repetitionPenalty() != 1) {
      for (int id : promptIds) {
        seen.add(id);
      }
    }
  }

  public SamplingParams params() {
    return params;
  }

  /** Samples the next token and records it for the penalties of later steps. */
  public SampledToken sample(float[] logits) {
    if (logits.length < vocabSize) {
      throw new IllegalArgumentException(
          "logits have " + logits.length + " entries, the vocabulary " + vocabSize);
    }
    // Embedding rows past the tokenizer's last id stand for no text: only the first vocabSize
    // logits are read, never copied out (0.5 MB a token for DeepSeek-V3's 129,280).
    float rawMax = Vectors.max(logits, vocabSize);
    if (Float.isNaN(rawMax)) {
      throw new IllegalStateException("logits hold NaN at token " + firstNaN(logits, vocabSize));
    }
    float[] x = processedLogits(logits);
    float max = x == logits ? rawMax : Vectors.max(x, vocabSize);
    int id = params.greedy() ? argmax(x, vocabSize, max) : draw(x, max);
    outputCounts.merge(id, 1, Integer::sum);
    if (params.repetitionPenalty() != 1) {
      seen.add(id);
    }
    if (!params.logprobs()) {
      return new SampledToken(id, null, List.of());
    }
    return withLogprobs(id, logits);
  }

  /**
   * Records a token sampled elsewhere for this request, as {@link #sample} would have: it counts
   * for the penalties, and a random draw is spent so that a seeded request's later draws match.
   */
  public void replay(int id) {
    checkInVocab(id, "generated_ids");
    if (!params.greedy()) {
      random.nextDouble();
    }
    outputCounts.merge(id, 1, Integer::sum);
    if (params.repetitionPenalty() != 1) {
      seen.add(id);
    }
  }

  private float[] processedLogits(float[] logits) {
    double freq = params.frequencyPenalty();
    double presence = params.presencePenalty();
    float r = (float) params.repetitionPenalty();
    if (params.logitBias().isEmpty() && r == 1 && freq == 0 && presence == 0) {
      return logits;
    }
    float[] x = Arrays.copyOf(logits, vocabSize);
    for (var bias : params.logitBias().entrySet()) {
      x[bias.getKey()] += bias.getValue();
    }
    if (r != 1) {
      for (int id : seen) {
        x[id] = x[id] > 0 ? x[id] / r : x[id] * r;
      }
    }
    if (freq != 0 || presence != 0) {
      for (var count : outputCounts.entrySet()) {
        x[count.getKey()] -= (float) (freq * count.getValue() + presence);
      }
    }
    return x;
  }

  private int draw(float[] x, float max) {
    if (max == Float.NEGATIVE_INFINITY) {
      throw new IllegalStateException("every token has a logit of -inf; nothing can be sampled");
    }
    // Unnormalised probabilities: the most likely token has exactly 1.
    float[] p = scratch(vocabSize);
    double total =
        Vectors.expScaled(
            x, max, (float) (1 / params.temperature()), (float) params.minP(), p, vocabSize);
    int[] candidates = candidates(p, total);
    double kept = 0;
    if (candidates == null) {
      kept = total;
    } else {
      for (int id : candidates) {
        kept += p[id];
      }
    }
    double u = random.nextDouble() * kept;
    int last = -1;
    int n = candidates == null ? vocabSize : candidates.length;
    for (int j = 0; j < n; j++) {
      int id = candidates == null ? j : candidates[j];
      if (p[id] == 0) {
        continue;
      }
      last = id;
      u -= p[id];
      if (u < 0) {
        return id;
      }
    }
    return last;
  }

  /**
   * The tokens top-k and top-p leave, most likely first; null when both are off. {@code total} is
   * the sum of {@code p}.
   */
  private int[] candidates(float[] p, double total) {
    int k = params.topK() > 0 ? Math.min(params.topK(), vocabSize) : vocabSize;
    if (params.topP() >= 1) {
      return k < vocabSize ? TopCandidates.largest(p, vocabSize, k) : null;
    }
    if (k < vocabSize) {
      int[] top = TopCandidates.largest(p, vocabSize, k);
      double topTotal = 0;
      for (int id : top) {
        topTotal += p[id];
      }
      int[] cut = nucleus(p, top, topTotal);
      return cut == null ? top : cut;
    }
    for (int guess = NUCLEUS_GUESS; ; guess *= 16) {
      int[] top = TopCandidates.largest(p, vocabSize, Math.min(guess, vocabSize));
      int[] cut = nucleus(p, top, total);
      if (cut != null || top.length == vocabSize) {
        return cut == null ? top : cut;
      }
    }
  }

  /** The shortest prefix of {@code sorted} holding topP of {@code total}, or null if none does. */
  private int[] nucleus(float[] p, int[] sorted, double total) {
    double target = params.topP() * total;
    double cumulative = 0;
    for (int j = 0; j < sorted.length; j++) {
      cumulative += p[sorted[j]];
      if (cumulative >= target) {
        return Arrays.copyOf(sorted, j + 1);
      }
    }
    return null;
  }

  /** This thread's probabilities array, of {@code n} entries or more; its contents are stale. */
  private static float[] scratch(int n) {
    float[] p = PROBABILITIES.get();
    if (p.length < n) {
      p = new float[n];
      PROBABILITIES.set(p);
    }
    return p;
  }

  private SampledToken withLogprobs(int id, float[] logits) {
    return scored(id, logits, params.topLogprobs(), vocabSize);
  }

  /**
   * Token {@code id} with its log probability under {@code logits} and the {@code top} most likely
   * alternatives: what a sampled token reports, and what a prompt token reports when its prompt's
   * log probabilities are asked for.
   */
  public static SampledToken scored(int id, float[] logits, int top) {
    return scored(id, logits, top, logits.length);
  }

  /** {@link #scored(int, float[], int)} over the first {@code n} logits. */
  private static SampledToken scored(int id, float[] logits, int top, int n) {
    float max = Vectors.max(logits, n);
    double sum = Vectors.expScaled(logits, max, 1f, 0f, scratch(n), n);
    float logZ = (float) (max + Math.log(sum));
    List<TokenLogprob> alternatives = new ArrayList<>(top);
    for (int alt : TopCandidates.largest(logits, n, top)) {
      alternatives.add(new TokenLogprob(alt, logits[alt] - logZ));
    }
    return new SampledToken(id, new TokenLogprob(id, logits[id] - logZ), alternatives);
  }

  /** The first of the greatest {@code x[0 .. n)}, whose greatest is {@code max}. */
  private static int argmax(float[] x, int n, float max) {
    int id = Vectors.indexOf(x, n, max);
    if (id < 0) {
      throw new IllegalStateException("logits hold NaN at token " + firstNaN(x, n));
    }
    return id;
  }

  private static int firstNaN(float[] x, int n) {
    for (int i = 0; i < n; i++) {
      if (Float.isNaN(x[i])) {
        return i;
      }
    }
    return -1;
  }

  private void checkInVocab(int id, String field) {
    if (id < 0 || id >= vocabSize) {
      throw new InvalidSamplingParamsException(
          field, field + " names token " + id + ", outside the vocabulary of " + vocabSize);
    }
  }
}
