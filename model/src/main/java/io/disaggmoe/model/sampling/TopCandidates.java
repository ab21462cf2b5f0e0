package io.disaggmoe.model.sampling;

import java.util.Arrays;

/**
 * The k largest entries of a vocabulary-sized vector, most likely first, ties to the lower id.
 *
 * <p>A size-k min-heap over packed (value, id) keys costs O(V log k) and allocates only k longs,
 * where sorting the whole vocabulary each step would cost O(V log V).
 */
final class TopCandidates {
  private TopCandidates() {}

  static int[] largest(float[] values, int k) {
    return largest(values, values.length, k);
  }

  /** The k largest of {@code values[0 .. n)}. */
  static int[] largest(float[] values, int n, int k) {
    k = Math.min(k, n);
    if (k <= 0) {
      return new int[0];
    }
    if (k > n / 8) {
      return sortedPrefix(values, n, k);
    }
    long[] heap = new long[k];
    for (int i = 0; i < k; i++) {
      heap[i] = key(values[i], i);
    }
    for (int i = k / 2 - 1; i >= 0; i--) {
      siftDown(heap, i);
    }
    for (int i = k; i < n; i++) {
      long key = key(values[i], i);
      if (key > heap[0]) {
        heap[0] = key;
        siftDown(heap, 0);
      }
    }
    Arrays.sort(heap);
    int[] ids = new int[k];
    for (int i = 0; i < k; i++) {
      ids[i] = Integer.MAX_VALUE - (int) heap[k - 1 - i];
    }
    return ids;
  }

  /** For a large share of the vocabulary one sort beats a heap. */
  private static int[] sortedPrefix(float[] values, int n, int k) {
    long[] keys = new long[n];
    for (int i = 0; i < n; i++) {
      keys[i] = key(values[i], i);
    }
    Arrays.sort(keys);
    int[] ids = new int[k];
    for (int i = 0; i < k; i++) {
      ids[i] = Integer.MAX_VALUE - (int) keys[n - 1 - i];
    }
    return ids;
  }

  /** Orders by value, then by lower id; the float bits are remapped so ints order like floats. */
  private static long key(float value, int id) {
    int bits = Float.floatToIntBits(value);
    int ordered = bits ^ ((bits >> 31) & 0x7FFFFFFF);
    return ((long) ordered << 32) | (Integer.MAX_VALUE - id);
  }

  private static void siftDown(long[] heap, int i) {
    int n = heap.length;
    while (true) {
      int smallest = i;
      int left = 2 * i + 1;
      int right = left + 1;
      if (left < n && heap[left] < heap[smallest]) {
        smallest = left;
      }
      if (right < n && heap[right] < heap[smallest]) {
        smallest = right;
      }
      if (smallest == i) {
        return;
      }
      long t = heap[i];
      heap[i] = heap[smallest];
      heap[smallest] = t;
      i = smallest;
    }
  }
}
