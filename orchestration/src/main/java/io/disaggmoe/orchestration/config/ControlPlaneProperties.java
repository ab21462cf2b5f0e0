package io.disaggmoe.orchestration.config;

import java.time.Duration;
import org.springframework.boot.context.properties.ConfigurationProperties;

/**
 * {@code disaggmoe.control-plane.*}: how often instances send heartbeats, and how long the plane
 * keeps one that stopped.
 */
@ConfigurationProperties("disaggmoe.control-plane")
public record ControlPlaneProperties(Duration heartbeat, Duration lease) {
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
  }
}
