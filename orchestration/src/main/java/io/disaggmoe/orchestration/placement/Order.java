package io.disaggmoe.orchestration.placement;

import java.util.Arrays;
import java.util.Comparator;

/** Index orders over weights, with ties broken by index so that plans are reproducible. */
final class Order {
  private Order() {}

  /** Indices of {@code w}, heaviest first; equal weights in index order. */
  static int[] descending(double[] w) {
    Integer[] idx = new Integer[w.length];
    Arrays.setAll(idx, i -> i);
    Arrays.sort(idx, Comparator.comparingDouble((Integer i) -> -w[i]).thenComparingInt(i -> i));
    return Arrays.stream(idx).mapToInt(Integer::intValue).toArray();
  }

  /** {@code inv[perm[i]] = i}. */
  static int[] inverse(int[] perm) {
    int[] inv = new int[perm.length];
    for (int i = 0; i < perm.length; i++) {
      inv[perm[i]] = i;
    }
    return inv;
  }
}
