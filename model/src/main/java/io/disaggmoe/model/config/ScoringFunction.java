package io.disaggmoe.model.config;

/** How the MoE gate turns logits into expert affinities. */
public enum ScoringFunction {
  /** DeepSeek-V3: independent per-expert affinities. */
  SIGMOID,
  /** DeepSeek-V2: a distribution over experts. */
  SOFTMAX;

  static ScoringFunction parse(String name) {
    return switch (name) {
      case "sigmoid" -> SIGMOID;
      case "softmax" -> SOFTMAX;
      default ->
          throw new IllegalArgumentException(
              "scoring_func '" + name + "' is not supported (expected sigmoid or softmax)");
    };
  }
}
