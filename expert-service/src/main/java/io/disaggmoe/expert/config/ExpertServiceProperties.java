package io.disaggmoe.expert.config;

import io.disaggmoe.expert.core.ExpertPool;
import java.nio.file.Path;
import java.util.List;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.util.unit.DataSize;

/**
 * {@code disaggmoe.expert.*}: the checkpoint, this pool's share ({@code I/N}) and replicas.
 *
 * @param replicas experts held in addition to the share, also held by other pools
 * @param computeNice how much lower than the process the expert passes run (nice 0..19), for pools
 *     that share cores with attention processes
 * @param maxQueued how much memory accepted, unfinished dispatches may hold before more are refused
 *     with RESOURCE_EXHAUSTED (default half the heap)
 */
@ConfigurationProperties("disaggmoe.expert")
public record ExpertServiceProperties(
    Path model,
    String pool,
    List<Integer> replicas,
    Integer computeNice,
    DataSize maxQueued,
    Integer maxDispatchTokens) {
  public ExpertServiceProperties {
    if (model == null) {
      throw new IllegalArgumentException("disaggmoe.expert.model (the checkpoint) is required");
    }
    pool = pool == null ? "0/1" : pool;
    replicas = replicas == null ? List.of() : List.copyOf(replicas);
    computeNice = computeNice == null ? 0 : computeNice;
    maxQueued =
        maxQueued == null ? DataSize.ofBytes(ExpertPool.defaultMaxQueuedBytes()) : maxQueued;
    maxDispatchTokens = maxDispatchTokens == null ? 16384 : maxDispatchTokens;
    if (maxDispatchTokens < 1) {
      throw new IllegalArgumentException(
          "disaggmoe.expert.max-dispatch-tokens must be at least 1, got " + maxDispatchTokens);
    }
    if (maxQueued.toBytes() < 1) {
      throw new IllegalArgumentException(
          "disaggmoe.expert.max-queued must be at least 1 byte, got " + maxQueued);
    }
  }
}
