package io.disaggmoe.model.gen;

import io.disaggmoe.model.config.ModelConfig;
import io.disaggmoe.model.config.RopeScaling;
import io.disaggmoe.model.config.ScoringFunction;
import io.disaggmoe.model.config.TopkMethod;
import java.util.Locale;

/** Architectures the generator can write: the real DeepSeek-V3 layout at small sizes. */
public enum Preset {
  /**
   * The embedded default: the real tokenizer's vocabulary (129280), V3 routing, YaRN; loads in
   * seconds.
   */
  TINY(
      new ModelConfig(
          "deepseek_v3",
          129280,
          128,
          384,
          64,
          4,
          4,
          1,
          16,
          2.5,
          64,
          96,
          16,
          32,
          32,
          TopkMethod.NOAUX_TC,
          4,
          2,
          4,
          1,
          1,
          true,
          ScoringFunction.SIGMOID,
          10000.0,
          new RopeScaling(4.0, 1024, 32, 1, 1.0, 1.0),
          4096,
          1e-6,
          false,
          0,
          1,
          0,
          null),
      1),
  /**
   * For benchmarks: V3's proportions, where routed experts hold most weights and per-token compute
   * (64 experts of width 512, top-6 in 8 groups, top-4 groups) and the LM head is a small share.
   */
  BENCH(
      new ModelConfig(
          "deepseek_v3",
          16384,
          1024,
          2816,
          512,
          8,
          8,
          1,
          64,
          2.5,
          256,
          384,
          32,
          64,
          64,
          TopkMethod.NOAUX_TC,
          8,
          4,
          6,
          1,
          1,
          true,
          ScoringFunction.SIGMOID,
          10000.0,
          null,
          4096,
          1e-6,
          false,
          0,
          1,
          0,
          null),
      4);

  private final ModelConfig config;
  private final int shards;

  Preset(ModelConfig config, int shards) {
    this.config = config;
    this.shards = shards;
  }

  public ModelConfig config() {
    return config;
  }

  /** How many safetensors files the checkpoint is split into (more than one adds an index). */
  public int shards() {
    return shards;
  }

  public static Preset parse(String name) {
    return valueOf(name.toUpperCase(Locale.ROOT));
  }
}
