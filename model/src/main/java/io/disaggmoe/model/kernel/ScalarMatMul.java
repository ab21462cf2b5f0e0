package io.disaggmoe.model.kernel;

/**
 * The plain reference kernel: every output is a dot product summed in column order. Used where the
 * Vector API is absent, and by tests as the reference for the fast kernels.
 */
final class ScalarMatMul {
  private ScalarMatMul() {}

  static void multiply(WeightMatrix w, float[] x, int n, float[] y) {
    int rows = w.rows();
    int cols = w.cols();
    float[] row = new float[cols];
    for (int o = 0; o < rows; o++) {
      w.copyRow(o, row, 0);
      for (int b = 0; b < n; b++) {
        int xo = b * cols;
        float s = 0;
        for (int i = 0; i < cols; i++) {
          s += x[xo + i] * row[i];
        }
        y[b * rows + o] = s;
      }
    }
  }
}
