package io.disaggmoe.gateway.core;

/** kv-cache-service as the gateway uses it: a health signal and releasing a request's pins. */
public interface KvCacheStage {
  String address();

  boolean healthy();

  /** Best effort: a lease that is not released ends with its TTL. */
  void unpin(String requestId);
}
