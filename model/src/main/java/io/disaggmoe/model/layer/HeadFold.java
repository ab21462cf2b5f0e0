package io.disaggmoe.model.layer;

import io.disaggmoe.model.kernel.RowCombination;
import io.disaggmoe.model.kernel.WeightMatrix;

/**
 * One head's half of {@code kv_b} applied to every row of a pass ({@link AbsorbedDecode}'s folds):
 * each row's input, strided through {@code x}, into its output, strided through {@code y}. Held in
 * the checkpoint's dtype: BF16 (or float32) as a {@link RowCombination}; F8_E4M3 with its block
 * scales, or F16, as a {@link WeightMatrix} on its own kernel, where a float32 form would take four
 * or two times the checkpoint's bytes (FP8: 3.1 GB more over DeepSeek-V3's 61 layers).
 */
sealed interface HeadFold {
  /**
   * Rows {@code r < rows}: {@code y[yAt + r * yStride ..]} from {@code x[xAt + r * xStride ..]}.
   */
  void apply(float[] x, int xAt, int xStride, float[] y, int yAt, int yStride, int rows);

  /** Bytes held. */
  long bytes();

  /** {@code y = Σ_d x[d] · W[d, :]} a row at a time. */
  record Combination(RowCombination w) implements HeadFold {
    @Override
    public void apply(float[] x, int xAt, int xStride, float[] y, int yAt, int yStride, int rows) {
      for (int r = 0; r < rows; r++) {
        w.multiply(x, xAt + r * xStride, y, yAt + r * yStride);
      }
    }

    @Override
    public long bytes() {
      return w.bytes();
    }
  }

  /**
   * {@code y = W · x} for every row together, {@code W [outputs, inputs]}: the rows gathered, one
   * multiplication, the results put back.
   */
  record Product(WeightMatrix w) implements HeadFold {
    @Override
    public void apply(float[] x, int xAt, int xStride, float[] y, int yAt, int yStride, int rows) {
      int in = w.cols();
      int out = w.rows();
      float[] gathered = new float[rows * in];
      for (int r = 0; r < rows; r++) {
        System.arraycopy(x, xAt + r * xStride, gathered, r * in, in);
      }
      float[] product = new float[rows * out];
      w.multiply(gathered, rows, product);
      for (int r = 0; r < rows; r++) {
        System.arraycopy(product, r * out, y, yAt + r * yStride, out);
      }
    }

    @Override
    public long bytes() {
      return w.bytes();
    }
  }
}
