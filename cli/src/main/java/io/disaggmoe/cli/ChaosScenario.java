package io.disaggmoe.cli;

import java.util.Arrays;
import java.util.List;

/**
 * One fault the chaos suite injects into a running suite: which service it kills (SIGKILL, as a
 * crash), and that the service is started again on its port afterwards, as Kubernetes restarts a
 * pod, so that the next scenario finds the suite whole. The rolling restart ({@code role} null)
 * stops and starts every service in turn instead, as a rollout of each stage would.
 */
enum ChaosScenario {
  KILL_DECODE("kill-decode", "decode", "a decode instance (of 2) killed mid-stream"),
  KILL_PREFILL("kill-prefill", "prefill", "the prefill instance killed"),
  KILL_POOL("kill-pool", "expert", "an expert pool whose experts no other pool holds killed"),
  KILL_KV_CACHE("kill-kv-cache", "kv-cache", "kv-cache-service killed"),
  KILL_CONTROL_PLANE("kill-control-plane", "control-plane", "the control plane killed"),
  KILL_GATEWAY("kill-gateway", "gateway", "one of 2 gateways killed; clients retry on the other"),
  ROLLING_RESTART(
      "rolling-restart",
      null,
      "every service stopped (SIGTERM) and started again, one at a time, each once the suite is"
          + " healthy again");

  final String id;
  final String role;
  final String what;

  ChaosScenario(String id, String role, String what) {
    this.id = id;
    this.role = role;
    this.what = what;
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
