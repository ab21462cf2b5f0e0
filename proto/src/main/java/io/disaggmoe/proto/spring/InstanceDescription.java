package io.disaggmoe.proto.spring;

import io.disaggmoe.proto.v1.ExpertLoad;
import io.disaggmoe.proto.v1.HeartbeatRequest;
import io.disaggmoe.proto.v1.Instance;

/**
 * What a stage tells the control plane about itself: when it registers, its role, model, capacity
 * and (a pool) its placement, asked again at every registration; in each heartbeat, its load and
 * the topology it routes by. The id and address are filled in by {@link ControlPlaneRegistration}.
 */
@FunctionalInterface
public interface InstanceDescription {
  Instance.Builder describe();

  /** Fills in this stage's load and routed topology version; nothing by default. */
  default void report(HeartbeatRequest.Builder heartbeat) {}

  /** An expert pool's tokens per expert per layer since it started, sent after each heartbeat. */
  default ExpertLoad expertLoad() {
    return null;
  }
}
