package io.disaggmoe.model.layer;

/** Softmax of a row in place, in Java: its order of operations depends on the row alone. */
final class Softmax {
  private Softmax() {}

  /** {@code v[from .. from+n)} becomes its softmax (max subtracted, summed in double). */
  static void inPlace(float[] v, int from, int n) {
    float max = Float.NEGATIVE_INFINITY;
    for (int i = from; i < from + n; i++) {
      max = Math.max(max, v[i]);
    }
    double sum = 0;
    for (int i = from; i < from + n; i++) {
      v[i] = (float) Math.exp(v[i] - max);
      sum += v[i];
    }
    for (int i = from; i < from + n; i++) {
      v[i] = (float) (v[i] / sum);
    }
  }
}
