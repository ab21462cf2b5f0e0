package io.disaggmoe.model.gen;

import io.disaggmoe.model.weights.Fp8E4m3;

/**
 * A float32 matrix quantized to F8_E4M3 per block, as DeepSeek-V3's checkpoint is: each block's
 * {@code weight_scale_inv} is its largest magnitude over 448 (E4M3's largest value), and a weight
 * is stored as itself over that scale, rounded to the nearest E4M3.
 */
record Fp8Blocks(byte[] bytes, float[] scales) {
  private static final float E4M3_MAX = 448f;

  static Fp8Blocks of(float[] v, int rows, int cols, int blockRows, int blockCols) {
    int scaleRows = (rows + blockRows - 1) / blockRows;
    int scaleCols = (cols + blockCols - 1) / blockCols;
    float[] scales = new float[scaleRows * scaleCols];
    for (int r = 0; r < rows; r++) {
      for (int c = 0; c < cols; c++) {
        int s = (r / blockRows) * scaleCols + c / blockCols;
        scales[s] = Math.max(scales[s], Math.abs(v[r * cols + c]));
      }
    }
    for (int s = 0; s < scales.length; s++) {
      scales[s] = scales[s] == 0 ? 1 : scales[s] / E4M3_MAX;
    }
    byte[] bytes = new byte[rows * cols];
    for (int r = 0; r < rows; r++) {
      for (int c = 0; c < cols; c++) {
        float scale = scales[(r / blockRows) * scaleCols + c / blockCols];
        bytes[r * cols + c] = Fp8E4m3.fromFloat(v[r * cols + c] / scale);
      }
    }
    return new Fp8Blocks(bytes, scales);
  }
}
