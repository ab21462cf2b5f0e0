package io.disaggmoe.model.config;

/**
 * YaRN rope scaling as written in {@code config.json}'s {@code rope_scaling} (type "yarn").
 *
 * <p>{@code mscale} scales cos/sin (HF semantics, relative to {@code mscaleAllDim}) and {@code
 * mscaleAllDim} the softmax scale; DeepSeek-V3 sets both to 1.0.
 */
public record RopeScaling(
    double factor,
    int originalMaxPositionEmbeddings,
    double betaFast,
    double betaSlow,
    double mscale,
    double mscaleAllDim) {

  /** YaRN's attention magnitude correction {@code 0.1 * m * ln(scale) + 1}, 1 for no scaling. */
  public static double yarnMscale(double scale, double m) {
    return scale <= 1.0 ? 1.0 : 0.1 * m * Math.log(scale) + 1.0;
  }
}
