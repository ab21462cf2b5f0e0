package io.disaggmoe.orchestration.scaling;

import io.disaggmoe.orchestration.core.Registry;
import io.disaggmoe.proto.v1.HeartbeatRequest;
import io.disaggmoe.proto.v1.Instance;
import io.disaggmoe.proto.v1.Role;
import io.disaggmoe.proto.v1.ScalingSignals;
import io.disaggmoe.proto.v1.StageSignal;
import io.disaggmoe.proto.v1.Topology;
import java.util.List;
import java.util.Map;

/**
 * Per stage, the replicas its load calls for, from what its instances report in their heartbeats. A
 * stage's pressure is its worst input over its target (prefill: queued prompt tokens per replica,
 * p90 time to first token; decode: KV usage, waiting requests per replica, p90 time per output
 * token); the desired count is the replicas now times that pressure, rounded up, at least 1 and at
 * most twice the replicas now (a step an autoscaler can take and then look again). Stages without a
 * load signal (gateway, expert pools, kv-cache) are wanted as they are.
 */
public final class ScalingAdvisor {
  private final Registry registry;
  private final ScalingTargets targets;

  public ScalingAdvisor(Registry registry, ScalingTargets targets) {
    this.registry = registry;
    this.targets = targets;
  }

  public ScalingSignals signals() {
    Topology t = registry.topology();
    Map<String, HeartbeatRequest> reports = registry.reports();
    ScalingSignals.Builder out = ScalingSignals.newBuilder();
    int desiredPrefill = 0;
    int desiredDecode = 0;
    for (Role role : Role.values()) {
      if (role == Role.ROLE_UNSPECIFIED || role == Role.UNRECOGNIZED) {
        continue;
      }
      List<Instance> of = t.getInstancesList().stream().filter(i -> i.getRole() == role).toList();
      StageSignal s = signal(role, of.stream().map(i -> reports.get(i.getId())).toList());
      out.addStages(s);
      if (role == Role.ROLE_PREFILL) {
        desiredPrefill = s.getDesiredReplicas();
      } else if (role == Role.ROLE_DECODE) {
        desiredDecode = s.getDesiredReplicas();
      }
    }
    return out.setPrefillToDecode(desiredDecode == 0 ? 0 : (double) desiredPrefill / desiredDecode)
        .build();
  }

  private StageSignal signal(Role role, List<HeartbeatRequest> beats) {
    int n = beats.size();
    long queuedTokens = 0;
    long queuedRequests = 0;
    long running = 0;
    double kv = 0;
    double latency = 0;
    for (HeartbeatRequest b : beats) {
      if (b == null) {
        continue;
      }
      queuedTokens += b.getQueuedTokens();
      queuedRequests += b.getQueuedRequests();
      running += b.getRunningRequests();
      kv += b.getKvUsedFraction();
      latency = Math.max(latency, b.getLatencyP90Ms());
    }
    double kvMean = n == 0 ? 0 : kv / n;
    double pressure;
    double latencyTarget;
    switch (role) {
      case ROLE_PREFILL -> {
        latencyTarget = targets.ttft().toMillis();
        pressure =
            Math.max(
                perReplica(queuedTokens, n) / targets.prefillQueuedTokens(),
                latency / latencyTarget);
      }
      case ROLE_DECODE -> {
        latencyTarget = targets.tpot().toMillis();
        pressure =
            Math.max(
                Math.max(
                    kvMean / targets.decodeKvUsed(),
                    perReplica(queuedRequests, n) / targets.decodeWaitingRequests()),
                latency / latencyTarget);
      }
      default -> {
        latencyTarget = 0;
        pressure = -1;
      }
    }
    int desired = pressure < 0 ? n : desired(n, pressure);
    return StageSignal.newBuilder()
        .setRole(role)
        .setReplicas(n)
        .setDesiredReplicas(desired)
        .setQueuedTokens(queuedTokens)
        .setQueuedRequests(queuedRequests)
        .setRunningRequests(running)
        .setKvUsedFraction(kvMean)
        .setLatencyP90Ms(latency)
        .setLatencyTargetMs(latencyTarget)
        .build();
  }

  private static double perReplica(long total, int replicas) {
    return replicas == 0 ? total : (double) total / replicas;
  }

  /** At least 1, at most twice what runs now; with none running, 1. */
  static int desired(int replicas, double pressure) {
    if (replicas == 0) {
      return 1;
    }
    int want = (int) Math.ceil(replicas * pressure - 1e-9);
    return Math.clamp(want, 1, 2 * replicas);
  }
}
