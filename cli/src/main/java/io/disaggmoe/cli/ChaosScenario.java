package io.disaggmoe.cli;

import java.util.Arrays;
import java.util.List;

/**
 * One fault the chaos suite injects into a running suite. A kill is a SIGKILL (a crash) of the
 * {@code index}-th service of {@code role} (of a decode instance, the one running the most streams
 * when the fault comes), started again on its port afterwards, as Kubernetes restarts a pod, so
 * that the next scenario finds the suite whole. A pool with a replica is killed before the one
 * without: re-placing the latter's experts onto the others changes which pools hold what. A link
 * fault disturbs the link between the gateways and the first decode instance for a while and then
 * restores it. The rolling restart stops and starts every service in turn, as a rollout of each
 * stage would.
 */
enum ChaosScenario {
  KILL_DECODE(Fault.KILL, "kill-decode", "decode", 0, "a decode instance (of 2) killed mid-stream"),
  KILL_PREFILL(Fault.KILL, "kill-prefill", "prefill", 0, "the prefill instance killed"),
  KILL_POOL_REPLICA(
      Fault.KILL,
      "kill-pool-replica",
      "expert",
      0,
      "an expert pool killed whose experts another pool also holds"),
  KILL_POOL(
      Fault.KILL,
      "kill-pool",
      "expert",
      1,
      "an expert pool whose experts no other pool holds killed"),
  KILL_KV_CACHE(Fault.KILL, "kill-kv-cache", "kv-cache", 0, "kv-cache-service killed"),
  KILL_CONTROL_PLANE(
      Fault.KILL, "kill-control-plane", "control-plane", 0, "the control plane killed"),
  KILL_GATEWAY(
      Fault.KILL,
      "kill-gateway",
      "gateway",
      0,
      "one of 2 gateways killed; clients retry on the other"),
  LINK_DELAY(
      Fault.LINK_DELAY,
      "link-delay",
      null,
      0,
      "the link from the gateways to a decode instance delayed by 100 ms (+-10 ms) each way for"
          + " 8 s"),
  LINK_FREEZE(
      Fault.LINK_FREEZE,
      "link-freeze",
      null,
      0,
      "the link from the gateways to a decode instance frozen for 20 s: connections open, no bytes"),
  LINK_CUT(
      Fault.LINK_CUT,
      "link-cut",
      null,
      0,
      "the link from the gateways to a decode instance cut for 8 s: connections closed, new ones"
          + " refused"),
  ROLLING_RESTART(
      Fault.ROLLING_RESTART,
      "rolling-restart",
      null,
      0,
      "every service stopped (SIGTERM) and started again, one at a time, each once the suite is"
          + " healthy again");

  /** What a scenario does to the suite. */
  enum Fault {
    KILL,
    LINK_DELAY,
    LINK_FREEZE,
    LINK_CUT,
    ROLLING_RESTART
  }

  final Fault fault;
  final String id;
  final String role;
  final int index;
  final String what;

  ChaosScenario(Fault fault, String id, String role, int index, String what) {
    this.fault = fault;
    this.id = id;
    this.role = role;
    this.index = index;
    this.what = what;
  }

  /**
   * Whether the victim is chosen when the fault comes, as the instance of {@link #role} running the
   * most requests ({@link BusiestInstance}): of decode instances, since routing may leave one
   * without any stream; else the {@link #index}-th, which is then only the fallback.
   */
  boolean killsTheBusiest() {
    return fault == Fault.KILL && "decode".equals(role);
  }

  /** Whether the fault strikes an attention instance, which the gateways route requests to. */
  boolean strikesAttention() {
    return "decode".equals(role) || "prefill".equals(role);
  }

  boolean needsDecodeLink() {
    return fault == Fault.LINK_DELAY || fault == Fault.LINK_FREEZE || fault == Fault.LINK_CUT;
  }

  /** {@code all}, or one scenario by its id. */
  static List<ChaosScenario> parse(String name) {
    if (name.equals("all")) {
      return List.of(values());
    }
    return List.of(
        Arrays.stream(values())
            .filter(s -> s.id.equals(name))
            .findFirst()
            .orElseThrow(
                () ->
                    new IllegalArgumentException(
                        "no chaos scenario "
                            + name
                            + "; there are "
                            + Arrays.stream(values()).map(s -> s.id).toList()
                            + " and all")));
  }
}
