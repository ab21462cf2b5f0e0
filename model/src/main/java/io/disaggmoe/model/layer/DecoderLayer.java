package io.disaggmoe.model.layer;

import ai.djl.ndarray.NDArray;
import java.util.function.Supplier;

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

  /** Bytes of weights every step reads in this layer (routed experts excluded). */
  public long bytes() {
    return attnNorm.bytes() + attention.bytes() + ffnNorm.bytes() + ffn.bytes();
  }

  /** Bytes of weights this layer holds (routed experts excluded). */
  public long residentBytes() {
    return bytes() - attention.bytes() + attention.residentBytes();
  }

  public NDArray forward(NDArray x, SequenceSlice[] batch) {
    return begin(x, batch).get();
  }

  /**
   * Runs attention and starts the feed-forward; the supplier finishes the layer. Between the two, a
   * caller can run another micro-batch while this one's routed experts compute elsewhere.
   */
  public Supplier<NDArray> begin(NDArray x, SequenceSlice[] batch) {
    NDArray h = x.add(attention.forward(attnNorm.forward(x), batch));
    Supplier<NDArray> f = ffn.start(ffnNorm.forward(h));
    return () -> h.add(f.get());
  }

  /**
   * Whether {@link #begin(float[], int, SequenceSlice[])} can run {@code rows} rows: absorbed
   * attention, and every part of the layer on float arrays.
   */
  public boolean runsFloats(int rows) {
    return attention.attendsFloats(rows) && ffn.runsFloats(rows);
  }

  /**
   * {@link #begin(NDArray, SequenceSlice[])} on float arrays: no torch call and no NDArray, each
   * sum taken in the same order.
   */
  public Supplier<float[]> begin(float[] x, int rows, SequenceSlice[] batch) {
    float[] h = attention.attend(attnNorm.forward(x), rows, batch);
    for (int i = 0; i < h.length; i++) {
      h[i] = x[i] + h[i];
    }
    Supplier<float[]> f = ffn.start(ffnNorm.forward(h), rows);
    return () -> {
      float[] y = f.get();
      for (int i = 0; i < y.length; i++) {
        y[i] = h[i] + y[i];
      }
      return y;
    };
  }
}
