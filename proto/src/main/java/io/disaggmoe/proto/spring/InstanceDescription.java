package io.disaggmoe.proto.spring;

import io.disaggmoe.proto.v1.Instance;

/**
 * What a stage tells the control plane about itself when it registers: its role, model, capacity
 * and (a pool) its placement. The id and address are filled in by {@link ControlPlaneRegistration}.
 */
@FunctionalInterface
public interface InstanceDescription {
  Instance.Builder describe();
}
