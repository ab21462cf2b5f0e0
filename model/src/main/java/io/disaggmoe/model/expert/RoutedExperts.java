package io.disaggmoe.model.expert;

import io.disaggmoe.model.config.ModelConfig;
import io.disaggmoe.model.kernel.MatMul;
import io.disaggmoe.model.layer.Expert;
import io.disaggmoe.model.weights.Checkpoint;
import java.util.Collections;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Predicate;

/**
 * The routed experts a process holds: all of them for the monolithic model, a placement's share for
 * an expert pool. Only the selected experts' tensors are read from the checkpoint.
 */
public final class RoutedExperts {
  private final Map<ExpertKey, Expert> experts;

  private RoutedExperts(Map<ExpertKey, Expert> experts) {
    this.experts = Collections.unmodifiableMap(experts);
  }

  /** Loads the experts of every MoE layer that {@code selection} accepts. */
  public static RoutedExperts load(
      Checkpoint checkpoint, ModelConfig config, Predicate<ExpertKey> selection) {
    return new RoutedExperts(Map.of()).plus(checkpoint, config, selection);
  }

  /**
   * These experts and those {@code selection} accepts, the new ones read from {@code checkpoint};
   * the ones held are shared, not read again.
   */
  public RoutedExperts plus(
      Checkpoint checkpoint, ModelConfig config, Predicate<ExpertKey> selection) {
    MatMul.warmUp(checkpoint.matrixDtypes());
    Map<ExpertKey, Expert> all = new HashMap<>(experts);
    int d = config.hiddenSize();
    int inter = config.moeIntermediateSize();
    for (int layer = 0; layer < config.numHiddenLayers(); layer++) {
      if (!config.isMoeLayer(layer)) {
        continue;
      }
      for (int e = 0; e < config.nRoutedExperts(); e++) {
        ExpertKey key = new ExpertKey(layer, e);
        if (all.containsKey(key) || !selection.test(key)) {
          continue;
        }
        String p = "model.layers." + layer + ".mlp.experts." + e + ".";
        all.put(
            key,
            new Expert(
                checkpoint.weight(p + "gate_proj.weight", inter, d),
                checkpoint.weight(p + "up_proj.weight", inter, d),
                checkpoint.weight(p + "down_proj.weight", d, inter)));
      }
    }
    return new RoutedExperts(all);
  }

  /** Only the experts {@code keep} accepts; the others' weights are freed once unreferenced. */
  public RoutedExperts only(Predicate<ExpertKey> keep) {
    Map<ExpertKey, Expert> kept = new HashMap<>(experts);
    kept.keySet().removeIf(k -> !keep.test(k));
    return new RoutedExperts(kept);
  }

  /** Whether this process holds the expert. */
  public boolean holds(int layer, int expert) {
    return experts.containsKey(new ExpertKey(layer, expert));
  }

  /** Bytes of expert weights held, in the checkpoint's dtype as the checkpoint holds them. */
  public long residentBytes() {
    return experts.values().stream().mapToLong(Expert::bytes).sum();
  }

  /** Bytes of one expert (every routed expert of a model has the same shape); 0 when none held. */
  public long bytesPerExpert() {
    return experts.isEmpty() ? 0 : experts.values().iterator().next().bytes();
  }

  /** The expert, or an {@link IllegalArgumentException} naming it when this process lacks it. */
  public Expert get(int layer, int expert) {
    Expert e = experts.get(new ExpertKey(layer, expert));
    if (e == null) {
      throw new IllegalArgumentException(
          "expert " + expert + " of layer " + layer + " is not held here");
    }
    return e;
  }
}
