package io.disaggmoe.expert.core;

import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Which routed experts a pool holds in each MoE layer. As configured, pool I of N takes the I-th
 * contiguous share of the experts in every layer, plus any replicas of experts other pools also
 * hold; the control plane may later place different experts per layer ({@code version} > 0).
 */
public record ExpertPlacement(
    int poolIndex, int poolCount, SortedMap<Integer, SortedSet<Integer>> layers, long version) {

  public ExpertPlacement {
    SortedMap<Integer, SortedSet<Integer>> copy = new TreeMap<>();
    layers.forEach((l, e) -> copy.put(l, Collections.unmodifiableSortedSet(new TreeSet<>(e))));
    layers = Collections.unmodifiableSortedMap(copy);
  }

  /**
   * Parses {@code I/N} and adds {@code replicas}, the same experts in each of {@code moeLayers}.
   */
  public static ExpertPlacement of(
      String pool, int routedExperts, List<Integer> moeLayers, Collection<Integer> replicas) {
    String[] parts = pool.split("/");
    int index;
    int count;
    try {
      if (parts.length != 2) {
        throw new NumberFormatException();
      }
      index = Integer.parseInt(parts[0].trim());
      count = Integer.parseInt(parts[1].trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("pool must be I/N (for example 0/2), got '" + pool + "'");
    }
    if (count < 1 || index < 0 || index >= count || count > routedExperts) {
      throw new IllegalArgumentException(
          "pool "
              + pool
              + " is impossible: need 0 <= I < N <= "
              + routedExperts
              + " (the routed experts)");
    }
    SortedSet<Integer> held = new TreeSet<>();
    for (int e = index * routedExperts / count; e < (index + 1) * routedExperts / count; e++) {
      held.add(e);
    }
    for (int e : replicas) {
      if (e < 0 || e >= routedExperts) {
        throw new IllegalArgumentException(
            "replica expert " + e + " does not exist (experts 0.." + (routedExperts - 1) + ")");
      }
      held.add(e);
    }
    SortedMap<Integer, SortedSet<Integer>> layers = new TreeMap<>();
    moeLayers.forEach(l -> layers.put(l, held));
    return new ExpertPlacement(index, count, layers, 0);
  }

  public boolean holds(int layer, int expert) {
    SortedSet<Integer> held = layers.get(layer);
    return held != null && held.contains(expert);
  }

  /** The experts held in any layer. */
  public SortedSet<Integer> experts() {
    SortedSet<Integer> all = new TreeSet<>();
    layers.values().forEach(all::addAll);
    return all;
  }

  /** Whether every layer holds the same experts, as a configured placement does. */
  public boolean uniform() {
    return layers.values().stream().distinct().count() <= 1;
  }

  /** This placement with {@code other}'s experts added in each layer, at {@code version}. */
  ExpertPlacement union(Map<Integer, ? extends Collection<Integer>> other, long newVersion) {
    SortedMap<Integer, SortedSet<Integer>> all = new TreeMap<>();
    layers.forEach((l, e) -> all.put(l, new TreeSet<>(e)));
    other.forEach((l, e) -> all.computeIfAbsent(l, x -> new TreeSet<>()).addAll(e));
    return new ExpertPlacement(poolIndex, poolCount, all, newVersion);
  }

  @Override
  public String toString() {
    if (uniform()) {
      return "pool " + poolIndex + "/" + poolCount + " experts " + experts();
    }
    return "pool " + poolIndex + "/" + poolCount + " placement " + version + " experts " + layers;
  }
}
