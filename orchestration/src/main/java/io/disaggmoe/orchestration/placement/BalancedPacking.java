package io.disaggmoe.orchestration.placement;

/**
 * Packs {@code n} weighted items into {@code packs} packs of {@code n / packs} items each: heaviest
 * item first, each into the lightest pack that still has room (ties to the lower pack, then the
 * lower item). The greedy of DeepSeek's EPLB, whose results the tests hold ours to.
 */
final class BalancedPacking {
  /** {@code pack[i]} and {@code rank[i]}: item i's pack and its position within it. */
  record Packed(int[] pack, int[] rank) {}

  private BalancedPacking() {}

  static Packed pack(double[] weight, int packs) {
    int n = weight.length;
    if (packs < 1 || n % packs != 0) {
      throw new IllegalArgumentException(n + " items do not split evenly into " + packs + " packs");
    }
    int perPack = n / packs;
    int[] pack = new int[n];
    int[] rank = new int[n];
    if (perPack == 1) {
      for (int i = 0; i < n; i++) {
        pack[i] = i;
      }
      return new Packed(pack, rank);
    }
    double[] load = new double[packs];
    int[] items = new int[packs];
    for (int item : Order.descending(weight)) {
      int best = -1;
      for (int p = 0; p < packs; p++) {
        if (items[p] < perPack && (best < 0 || load[p] < load[best])) {
          best = p;
        }
      }
      pack[item] = best;
      rank[item] = items[best];
      load[best] += weight[item];
      items[best]++;
    }
    return new Packed(pack, rank);
  }
}
