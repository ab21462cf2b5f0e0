package io.disaggmoe.kvcache.grpc;

import io.disaggmoe.kvcache.core.CacheFullException;
import io.disaggmoe.kvcache.core.NoDiskTierException;
import io.grpc.Status;

/**
 * Core failures to gRPC statuses: bad input, full cache, a durable put without a disk tier,
 * anything else internal.
 */
public final class KvCacheStatusMapper {
  private KvCacheStatusMapper() {}

  public static Status toStatus(Throwable e) {
    if (e instanceof CacheFullException) {
      return Status.RESOURCE_EXHAUSTED.withDescription(e.getMessage());
    }
    if (e instanceof NoDiskTierException) {
      return Status.FAILED_PRECONDITION.withDescription(e.getMessage());
    }
    if (e instanceof IllegalArgumentException) {
      return Status.INVALID_ARGUMENT.withDescription(e.getMessage());
    }
    return Status.INTERNAL.withDescription(String.valueOf(e.getMessage())).withCause(e);
  }
}
