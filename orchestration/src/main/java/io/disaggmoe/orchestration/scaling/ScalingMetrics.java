package io.disaggmoe.orchestration.scaling;

import io.disaggmoe.proto.v1.Role;
import io.disaggmoe.proto.v1.ScalingSignals;
import io.disaggmoe.proto.v1.StageSignal;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.Locale;
import java.util.function.ToDoubleFunction;

/**
 * The scaling signals as Prometheus gauges an autoscaler reads (an HPA on external metrics, a KEDA
 * ScaledObject): {@code disaggmoe_desired_replicas{stage}} and the inputs behind it, each computed
 * from the instances' latest heartbeats when scraped.
 */
public final class ScalingMetrics {
  private ScalingMetrics() {}

  public static void register(ScalingAdvisor advisor, MeterRegistry registry) {
    for (Role role : Role.values()) {
      if (role == Role.ROLE_UNSPECIFIED || role == Role.UNRECOGNIZED) {
        continue;
      }
      String stage = stage(role);
      gauge(
          registry,
          "disaggmoe_desired_replicas",
          stage,
          advisor,
          role,
          StageSignal::getDesiredReplicas);
      gauge(registry, "disaggmoe_stage_replicas", stage, advisor, role, StageSignal::getReplicas);
      gauge(
          registry,
          "disaggmoe_stage_queued_tokens",
          stage,
          advisor,
          role,
          StageSignal::getQueuedTokens);
      gauge(
          registry,
          "disaggmoe_stage_queued_requests",
          stage,
          advisor,
          role,
          StageSignal::getQueuedRequests);
      gauge(
          registry,
          "disaggmoe_stage_running_requests",
          stage,
          advisor,
          role,
          StageSignal::getRunningRequests);
      gauge(
          registry,
          "disaggmoe_stage_kv_used_fraction",
          stage,
          advisor,
          role,
          StageSignal::getKvUsedFraction);
      gauge(
          registry,
          "disaggmoe_stage_latency_p90_ms",
          stage,
          advisor,
          role,
          StageSignal::getLatencyP90Ms);
      gauge(
          registry,
          "disaggmoe_stage_latency_target_ms",
          stage,
          advisor,
          role,
          StageSignal::getLatencyTargetMs);
    }
    Gauge.builder(
            "disaggmoe_prefill_to_decode_ratio", advisor, a -> a.signals().getPrefillToDecode())
        .description("desired prefill replicas over desired decode replicas")
        .register(registry);
  }

  /** The stage label: gateway, prefill, decode, expert_pool, kv_cache. */
  public static String stage(Role role) {
    return role.name().substring("ROLE_".length()).toLowerCase(Locale.ROOT);
  }

  private static void gauge(
      MeterRegistry registry,
      String name,
      String stage,
      ScalingAdvisor advisor,
      Role role,
      ToDoubleFunction<StageSignal> value) {
    Gauge.builder(name, advisor, a -> value.applyAsDouble(of(a.signals(), role)))
        .tag("stage", stage)
        .register(registry);
  }

  private static StageSignal of(ScalingSignals s, Role role) {
    return s.getStagesList().stream()
        .filter(x -> x.getRole() == role)
        .findFirst()
        .orElse(StageSignal.getDefaultInstance());
  }
}
