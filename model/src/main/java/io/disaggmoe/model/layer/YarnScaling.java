package io.disaggmoe.model.layer;

import io.disaggmoe.model.config.RopeScaling;

/**
 * YaRN's frequency interpolation: rotary frequencies that turn fewer than {@code beta_slow} times
 * over the original context are divided by {@code factor}, those that turn more than {@code
 * beta_fast} times are kept, with a linear ramp between.
 */
public final class YarnScaling {
  private YarnScaling() {}

  /** Rescales {@code freqs} (one per rotary pair) in place, in float32 as the reference does. */
  public static void apply(float[] freqs, int ropeDim, double theta, RopeScaling s) {
    double low = Math.max(Math.floor(correctionDim(s.betaFast(), ropeDim, theta, s)), 0);
    double high = Math.min(Math.ceil(correctionDim(s.betaSlow(), ropeDim, theta, s)), ropeDim - 1);
    if (low == high) {
      high += 0.001;
    }
    float factor = (float) s.factor();
    for (int i = 0; i < freqs.length; i++) {
      float ramp = (float) Math.clamp((i - low) / (high - low), 0.0, 1.0);
      float smooth = 1 - ramp;
      freqs[i] = freqs[i] / factor * (1 - smooth) + freqs[i] * smooth;
    }
  }

  /**
   * The rotary dimension whose frequency turns {@code rotations} times over the original length.
   */
  static double correctionDim(double rotations, int ropeDim, double theta, RopeScaling s) {
    return ropeDim
        * Math.log(s.originalMaxPositionEmbeddings() / (rotations * 2 * Math.PI))
        / (2 * Math.log(theta));
  }
}
