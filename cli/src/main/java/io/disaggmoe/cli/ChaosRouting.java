package io.disaggmoe.cli;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where the gateways sent a scenario's requests, request by request, as each answer's {@code
 * nvext.worker_id} names the instances; and, for a fault that struck one prefill or decode instance
 * ({@code instance}, as the gateways address it), what routing did about it while it lasted (from
 * the fault to {@code windowEnd}): how many requests sent in that time still went to it, when the
 * last of them was sent, and how many requests moved off it to another decode instance mid-stream.
 * Without such an instance the counts are -1.
 *
 * @param role {@code prefill} or {@code decode}: which of a request's instances is compared
 */
record ChaosRouting(
    String instance,
    String role,
    int sentInWindow,
    int sentToIt,
    long lastSentToItMs,
    int movedOffIt,
    List<Map<String, Object>> requests) {

  static ChaosRouting of(
      List<ChaosLoad.Sent> sent, String instance, String role, long faultNanos, long windowEnd) {
    List<Map<String, Object>> requests = new ArrayList<>();
    int inWindow = 0;
    int toIt = 0;
    long last = -1;
    int moved = 0;
    for (ChaosLoad.Sent r : sent) {
      long sentMs = (r.startNanos() - faultNanos) / 1_000_000;
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("sent_ms", sentMs);
      m.put("completed", r.error() == null);
      m.put("prefill", r.prefill());
      m.put("decodes", r.decodes());
      requests.add(m);
      if (instance == null) {
        continue;
      }
      if (r.decodes().contains(instance) && !instance.equals(r.decodes().getLast())) {
        moved++;
      }
      if (r.startNanos() >= faultNanos && r.startNanos() < windowEnd) {
        inWindow++;
        if (instance.equals(firstOfRole(r, role))) {
          toIt++;
          last = Math.max(last, sentMs);
        }
      }
    }
    boolean known = instance != null;
    return new ChaosRouting(
        instance,
        role,
        known ? inWindow : -1,
        known ? toIt : -1,
        last,
        known ? moved : -1,
        requests);
  }

  private static String firstOfRole(ChaosLoad.Sent r, String role) {
    if (role.equals("prefill")) {
      return r.prefill();
    }
    return r.decodes().isEmpty() ? null : r.decodes().getFirst();
  }

  Map<String, Object> json() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("instance", instance);
    m.put("role", role);
    m.put("sent_while_faulty", sentInWindow);
    m.put("sent_to_it_while_faulty", sentToIt);
    m.put("last_sent_to_it_ms", lastSentToItMs);
    m.put("moved_off_it", movedOffIt);
    m.put("requests", requests);
    return m;
  }
}
