package io.disaggmoe.model.kernel;

import java.util.SplittableRandom;

/** Seeded floats in [-1, 1) for the kernel tests. */
final class RandomFloats {
  private RandomFloats() {}

  static float[] of(int n, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) (r.nextDouble() * 2 - 1);
    }
    return v;
  }
}
