package io.disaggmoe.model.layer;

import io.disaggmoe.model.cache.LatentCache;
import io.disaggmoe.model.kernel.Vectors;

/**
 * Absorbed MLA for one query row (a decode step) over a sequence's latent cache, read in place page
 * by page: no page is copied and nothing is concatenated, so a step costs the cache's bytes and the
 * arithmetic on them.
 *
 * <p>Per head: the query's no-rope part is folded into the latent space by {@code W_UK}, scored
 * against every cached {@code c_kv} and {@code k_pe}, softmaxed, the probabilities weight the
 * cached {@code c_kv} (the values, still latent), and {@code W_UV} takes the result out of the
 * latent space. The same algebra as the torch path, in float32; only the summation order differs.
 */
final class AbsorbedDecode {
  private final int heads;
  private final int nope;
  private final int rope;
  private final int vDim;
  private final int rank;
  private final int dim;
  private final float scale;

  /** {@code W_UK}: {@code [heads, nope, rank]}. */
  private final float[] absorbK;

  /** {@code W_UV}ᵀ: {@code [heads, rank, vDim]}. */
  private final float[] absorbVt;

  AbsorbedDecode(
      int heads,
      int nope,
      int rope,
      int vDim,
      int rank,
      float scale,
      float[] absorbK,
      float[] absorbVt) {
    this.heads = heads;
    this.nope = nope;
    this.rope = rope;
    this.vDim = vDim;
    this.rank = rank;
    this.dim = rank + rope;
    this.scale = scale;
    this.absorbK = absorbK;
    this.absorbVt = absorbVt;
  }

  /**
   * Attends row {@code row} of {@code qNope} ({@code [rows, heads, nope]}) and {@code qPe} ({@code
   * [rows, heads, rope]}, rotated) over positions {@code 0 .. end-1} of {@code layer}, writing
   * {@code heads * vDim} values to {@code out} at {@code outAt}.
   */
  void attend(
      float[] qNope,
      float[] qPe,
      int row,
      LatentCache cache,
      int layer,
      int end,
      float[] out,
      int outAt) {
    // Per head, the query folded into the latent space followed by its rotary part: one vector of
    // the cache rows' width, so a score is one dot product with a cached row.
    float[] query = new float[heads * dim];
    for (int h = 0; h < heads; h++) {
      int q = (row * heads + h) * nope;
      for (int d = 0; d < nope; d++) {
        Vectors.axpy(qNope[q + d], absorbK, (h * nope + d) * rank, query, h * dim, rank);
      }
      System.arraycopy(qPe, (row * heads + h) * rope, query, h * dim + rank, rope);
    }
    float[] scores = new float[heads * end];
    int grouped = heads - heads % 4;
    cache.forEachRun(
        layer,
        end,
        (data, offset, first, count) -> {
          for (int t = 0; t < count; t++) {
            int at = offset + t * dim;
            int h = 0;
            for (; h < grouped; h += 4) {
              Vectors.dot4(query, h * dim, dim, data, at, dim, scores, h * end + first + t, end);
            }
            for (; h < heads; h++) {
              scores[h * end + first + t] = Vectors.dot(query, h * dim, data, at, dim);
            }
          }
        });
    for (int i = 0; i < scores.length; i++) {
      scores[i] *= scale;
    }
    for (int h = 0; h < heads; h++) {
      Softmax.inPlace(scores, h * end, end);
    }
    float[] latent = new float[heads * rank];
    cache.forEachRun(
        layer,
        end,
        (data, offset, first, count) -> {
          int h = 0;
          for (; h < grouped; h += 4) {
            Vectors.weightedSum4(
                scores,
                h * end + first,
                end,
                data,
                offset,
                dim,
                count,
                latent,
                h * rank,
                rank,
                rank);
          }
          for (; h < heads; h++) {
            for (int t = 0; t < count; t++) {
              Vectors.axpy(
                  scores[h * end + first + t], data, offset + t * dim, latent, h * rank, rank);
            }
          }
        });
    for (int h = 0; h < heads; h++) {
      int o = outAt + h * vDim;
      for (int c = 0; c < rank; c++) {
        Vectors.axpy(latent[h * rank + c], absorbVt, (h * rank + c) * vDim, out, o, vDim);
      }
    }
  }
}
