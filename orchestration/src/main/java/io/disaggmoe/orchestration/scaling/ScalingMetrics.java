package io.disaggmoe.orchestration.scaling;

import com.google.common.base.Supplier;
import com.google.common.base.Suppliers;
import io.disaggmoe.proto.v1.Role;
import io.disaggmoe.proto.v1.ScalingSignals;
import io.disaggmoe.proto.v1.StageSignal;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
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
    // One scrape reads 41 gauges: they share one computation of the signals.
    Supplier<ScalingSignals> signals =
        Suppliers.memoizeWithExpiration(advisor::signals, Duration.ofSeconds(1));
    for (Role role : Role.values()) {
      if (role == Role.ROLE_UNSPECIFIED || role == Role.UNRECOGNIZED) {
        continue;
      }
      String stage = stage(role);
      gauge(
          registry,
          "disaggmoe_desired_replicas",
          stage,
          signals,
          role,
          StageSignal::getDesiredReplicas);
      gauge(registry, "disaggmoe_stage_replicas", stage, signals, role, StageSignal::getReplicas);
      gauge(
          registry,
          "disaggmoe_stage_queued_tokens",
          stage,
          signals,
          role,
          StageSignal::getQueuedTokens);
      gauge(
          registry,
          "disaggmoe_stage_queued_requests",
          stage,
          signals,
          role,
          StageSignal::getQueuedRequests);
      gauge(
          registry,
          "disaggmoe_stage_running_requests",
          stage,
          signals,
          role,
          StageSignal::getRunningRequests);
      gauge(
          registry,
          "disaggmoe_stage_kv_used_fraction",
          stage,
          signals,
          role,
          StageSignal::getKvUsedFraction);
      gauge(
          registry,
          "disaggmoe_stage_latency_p90_ms",
          stage,
          signals,
          role,
          StageSignal::getLatencyP90Ms);
      gauge(
          registry,
          "disaggmoe_stage_latency_target_ms",
          stage,
          signals,
          role,
          StageSignal::getLatencyTargetMs);
    }
    Gauge.builder("disaggmoe_prefill_to_decode_ratio", signals, s -> s.get().getPrefillToDecode())
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
      Supplier<ScalingSignals> signals,
      Role role,
      ToDoubleFunction<StageSignal> value) {
    Gauge.builder(name, signals, s -> value.applyAsDouble(of(s.get(), role)))
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
