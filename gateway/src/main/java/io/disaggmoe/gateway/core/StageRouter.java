package io.disaggmoe.gateway.core;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Collection;
import java.util.Comparator;
import java.util.Deque;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Chooses instances. Prefill: the fewest queued prompt tokens (as the instance last reported, plus
 * what this gateway sent it since), less the prefix its recent prompts share with this one, since
 * the blocks of a prompt it just computed are still pinned and hot there. Decode: the most free KV
 * bytes. Instances whose breaker is open or that stopped answering are skipped.
 */
public final class StageRouter {
  /** Recent prompts remembered per prefill instance, and the prefix length compared. */
  private static final int RECENT_PROMPTS = 32;

  private static final int PREFIX_COMPARED = 4096;

  private volatile List<AttentionStage> prefills;
  private volatile List<AttentionStage> decodes;
  private final Map<AttentionStage, Deque<int[]>> recent = new IdentityHashMap<>();
  private final Map<AttentionStage, Long> sentTokens = new IdentityHashMap<>();

  public StageRouter(List<AttentionStage> prefills, List<AttentionStage> decodes) {
    route(prefills, decodes);
  }

  /**
   * Routes new requests to these instances from now on (the control plane's topology changed);
   * requests already sent to a removed one finish or fail over as they would.
   */
  public synchronized void route(List<AttentionStage> prefills, List<AttentionStage> decodes) {
    this.prefills = List.copyOf(prefills);
    this.decodes = List.copyOf(decodes);
    recent.keySet().retainAll(Set.copyOf(prefills));
    sentTokens.keySet().retainAll(Set.copyOf(prefills));
    for (AttentionStage s : prefills) {
      recent.computeIfAbsent(s, x -> new ArrayDeque<>());
      sentTokens.putIfAbsent(s, 0L);
    }
  }

  public List<AttentionStage> prefills() {
    return prefills;
  }

  public List<AttentionStage> decodes() {
    return decodes;
  }

  /** The prefill instance for this prompt, or null when none is left to try. */
  public synchronized AttentionStage pickPrefill(int[] prompt, Collection<AttentionStage> tried) {
    AttentionStage best = null;
    long bestScore = Long.MAX_VALUE;
    for (AttentionStage s : candidates(prefills, tried)) {
      long score = s.status().getQueuedTokens() + sentTokens.get(s) - sharedPrefix(s, prompt);
      if (score < bestScore) {
        best = s;
        bestScore = score;
      }
    }
    if (best != null) {
      Deque<int[]> r = recent.get(best);
      r.addFirst(Arrays.copyOf(prompt, Math.min(prompt.length, PREFIX_COMPARED)));
      if (r.size() > RECENT_PROMPTS) {
        r.removeLast();
      }
      sentTokens.merge(best, (long) prompt.length, Long::sum);
    }
    return best;
  }

  /** A prefill sent to {@code s} ended: its tokens no longer count as queued there. */
  public synchronized void prefillEnded(AttentionStage s, int promptTokens) {
    sentTokens.computeIfPresent(s, (x, sent) -> sent - promptTokens);
  }

  /** The decode instance with the most free KV bytes, or null when none is left to try. */
  public AttentionStage pickDecode(Collection<AttentionStage> tried) {
    return candidates(decodes, tried).stream()
        .max(
            Comparator.<AttentionStage>comparingLong(s -> s.status().getFreeKvBytes())
                .thenComparing(s -> -s.status().getRunningRequests()))
        .orElse(null);
  }

  private static List<AttentionStage> candidates(
      List<AttentionStage> all, Collection<AttentionStage> tried) {
    Set<AttentionStage> skip = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
    skip.addAll(tried);
    List<AttentionStage> healthy =
        all.stream().filter(s -> !skip.contains(s) && s.healthy()).toList();
    // With every breaker open, try one anyway rather than fail without a call: it may be back.
    return healthy.isEmpty() ? all.stream().filter(s -> !skip.contains(s)).toList() : healthy;
  }

  private long sharedPrefix(AttentionStage s, int[] prompt) {
    long best = 0;
    for (int[] p : recent.get(s)) {
      int n = Math.min(p.length, prompt.length);
      int i = Arrays.mismatch(p, 0, n, prompt, 0, n);
      best = Math.max(best, i < 0 ? n : i);
    }
    return best;
  }
}
