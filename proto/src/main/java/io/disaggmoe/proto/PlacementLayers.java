package io.disaggmoe.proto;

import io.disaggmoe.proto.v1.LayerExperts;
import io.disaggmoe.proto.v1.Placement;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/** A {@link Placement}'s experts per MoE layer, to and from the wire. */
public final class PlacementLayers {
  private PlacementLayers() {}

  /**
   * The experts held in each MoE layer: its {@code layers}, or, for a placement from a pool's
   * configuration, its {@code experts} in every one of its {@code moe_layers}.
   */
  public static SortedMap<Integer, List<Integer>> of(Placement p) {
    SortedMap<Integer, List<Integer>> byLayer = new TreeMap<>();
    if (p.getLayersCount() > 0) {
      p.getLayersList().forEach(l -> byLayer.put(l.getLayer(), l.getExpertsList()));
    } else {
      p.getMoeLayersList().forEach(layer -> byLayer.put(layer, p.getExpertsList()));
    }
    return byLayer;
  }

  /** {@code layers} as the wire lists them. */
  public static List<LayerExperts> toProto(Map<Integer, ? extends Collection<Integer>> layers) {
    List<LayerExperts> out = new ArrayList<>();
    layers.forEach(
        (l, e) -> out.add(LayerExperts.newBuilder().setLayer(l).addAllExperts(e).build()));
    return out;
  }
}
