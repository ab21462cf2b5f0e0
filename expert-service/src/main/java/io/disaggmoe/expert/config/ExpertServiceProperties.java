package io.disaggmoe.expert.config;

import java.nio.file.Path;
import java.util.List;
import org.springframework.boot.context.properties.ConfigurationProperties;

/**
 * {@code disaggmoe.expert.*}: the checkpoint, this pool's share ({@code I/N}) and replicas.
 *
 * @param replicas experts held in addition to the share, also held by other pools
 * @param computeNice how much lower than the process the expert passes run (nice 0..19), for pools
 *     that share cores with attention processes
 */
@ConfigurationProperties("disaggmoe.expert")
public record ExpertServiceProperties(
    Path model, String pool, List<Integer> replicas, Integer computeNice) {
  public ExpertServiceProperties {
    if (model == null) {
      throw new IllegalArgumentException("disaggmoe.expert.model (the checkpoint) is required");
    }
    pool = pool == null ? "0/1" : pool;
    replicas = replicas == null ? List.of() : List.copyOf(replicas);
    computeNice = computeNice == null ? 0 : computeNice;
  }
}
