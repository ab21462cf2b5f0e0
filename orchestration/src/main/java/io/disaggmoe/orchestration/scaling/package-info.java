/** Scaling signals: per stage, the replicas its load calls for, for an autoscaler to read. */
package io.disaggmoe.orchestration.scaling;
