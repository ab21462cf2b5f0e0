package io.disaggmoe.orchestration.config;

import io.disaggmoe.orchestration.scaling.ScalingTargets;
import java.time.Duration;
import org.springframework.boot.context.properties.ConfigurationProperties;

/**
 * {@code disaggmoe.control-plane.*}: how often instances send heartbeats and how long the plane
 * keeps one that stopped; how often it looks at the expert load ({@code rebalance-every}, 0: only
 * when asked), from what imbalance (heaviest over mean pool load) it switches and how many expert
 * slots each pool has beyond its share ({@code spare-slots}, for copies of hot experts); the
 * per-replica targets of the scaling signals.
 */
@ConfigurationProperties("disaggmoe.control-plane")
public record ControlPlaneProperties(
    Duration heartbeat,
    Duration lease,
    Duration rebalanceEvery,
    Double rebalanceThreshold,
    Integer spareSlots,
    Long targetPrefillQueuedTokens,
    Duration targetTtft,
    Double targetDecodeKvUsed,
    Long targetDecodeWaitingRequests,
    Duration targetTpot) {
  public ControlPlaneProperties {
    heartbeat = heartbeat == null ? Duration.ofSeconds(1) : heartbeat;
    lease = lease == null ? Duration.ofSeconds(5) : lease;
    if (lease.compareTo(heartbeat.multipliedBy(2)) < 0) {
      throw new IllegalArgumentException(
          "disaggmoe.control-plane.lease ("
              + lease
              + ") must be at least two heartbeats ("
              + heartbeat
              + ")");
    }
    rebalanceEvery = rebalanceEvery == null ? Duration.ofMinutes(1) : rebalanceEvery;
    rebalanceThreshold = rebalanceThreshold == null ? 1.25 : rebalanceThreshold;
    spareSlots = spareSlots == null ? 1 : spareSlots;
    if (spareSlots < 0) {
      throw new IllegalArgumentException(
          "disaggmoe.control-plane.spare-slots must be >= 0, got " + spareSlots);
    }
    ScalingTargets d = ScalingTargets.defaults();
    targetPrefillQueuedTokens =
        targetPrefillQueuedTokens == null ? d.prefillQueuedTokens() : targetPrefillQueuedTokens;
    targetTtft = targetTtft == null ? d.ttft() : targetTtft;
    targetDecodeKvUsed = targetDecodeKvUsed == null ? d.decodeKvUsed() : targetDecodeKvUsed;
    targetDecodeWaitingRequests =
        targetDecodeWaitingRequests == null
            ? d.decodeWaitingRequests()
            : targetDecodeWaitingRequests;
    targetTpot = targetTpot == null ? d.tpot() : targetTpot;
  }

  ScalingTargets scalingTargets() {
    return new ScalingTargets(
        targetPrefillQueuedTokens,
        targetTtft,
        targetDecodeKvUsed,
        targetDecodeWaitingRequests,
        targetTpot);
  }
}
