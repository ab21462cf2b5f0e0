package io.disaggmoe.expert.core;

import java.util.Collection;
import java.util.SortedSet;
import java.util.TreeSet;

/**
 * Which routed experts a pool holds, the same ids in every MoE layer: pool I of N takes the I-th
 * contiguous share of the experts, plus any replicas of experts other pools also hold.
 */
public record ExpertPlacement(int poolIndex, int poolCount, SortedSet<Integer> experts) {

  public ExpertPlacement {
    experts = new TreeSet<>(experts);
  }

  /** Parses {@code I/N} and adds {@code replicas}. */
  public static ExpertPlacement of(String pool, int routedExperts, Collection<Integer> replicas) {
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
    return new ExpertPlacement(index, count, held);
  }

  public boolean holds(int expert) {
    return experts.contains(expert);
  }

  @Override
  public String toString() {
    return "pool " + poolIndex + "/" + poolCount + " experts " + experts;
  }
}
