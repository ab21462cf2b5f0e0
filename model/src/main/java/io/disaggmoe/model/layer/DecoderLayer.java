package io.disaggmoe.model.layer;

import ai.djl.ndarray.NDArray;

/** One transformer block: {@code h = x + attn(norm(x))}, then {@code h + ffn(norm(h))}. */
public final class DecoderLayer {
  private final RmsNorm attnNorm;
  private final MlaAttention attention;
  private final RmsNorm ffnNorm;
  private final FeedForward ffn;

  public DecoderLayer(RmsNorm attnNorm, MlaAttention attention, RmsNorm ffnNorm, FeedForward ffn) {
    this.attnNorm = attnNorm;
    this.attention = attention;
    this.ffnNorm = ffnNorm;
    this.ffn = ffn;
  }

  public NDArray forward(NDArray x, SequenceSlice[] batch) {
    NDArray h = x.add(attention.forward(attnNorm.forward(x), batch));
    return h.add(ffn.forward(ffnNorm.forward(h)));
  }
}
