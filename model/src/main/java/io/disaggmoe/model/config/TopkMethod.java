package io.disaggmoe.model.config;

/** How the MoE gate picks experts from the affinities ({@code topk_method}). */
public enum TopkMethod {
  /** Plain top-k over all experts (DeepSeek-V2-Lite). */
  GREEDY,
  /** Keep the {@code topk_group} groups with the highest best score, then top-k (DeepSeek-V2). */
  GROUP_LIMITED_GREEDY,
  /**
   * DeepSeek-V3: add {@code e_score_correction_bias} for selection only, rank groups by the sum of
   * their two best biased scores, then top-k.
   */
  NOAUX_TC;

  static TopkMethod parse(String name) {
    return switch (name) {
      case "greedy" -> GREEDY;
      case "group_limited_greedy" -> GROUP_LIMITED_GREEDY;
      case "noaux_tc" -> NOAUX_TC;
      default ->
          throw new IllegalArgumentException(
              "topk_method '"
                  + name
                  + "' is not supported (expected greedy, group_limited_greedy or noaux_tc)");
    };
  }
}
