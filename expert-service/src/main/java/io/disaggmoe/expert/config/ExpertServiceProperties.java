package io.disaggmoe.expert.config;

import java.nio.file.Path;
import java.util.List;
import org.springframework.boot.context.properties.ConfigurationProperties;

/**
 * {@code disaggmoe.expert.*}: the checkpoint, this pool's share ({@code I/N}) and replicas.
 *
 * @param replicas experts held in addition to the share, also held by other pools
 */
@ConfigurationProperties("disaggmoe.expert")
public record ExpertServiceProperties(Path model, String pool, List<Integer> replicas) {
  public ExpertServiceProperties {
    if (model == null) {
      throw new IllegalArgumentException("disaggmoe.expert.model (the checkpoint) is required");
    }
    pool = pool == null ? "0/1" : pool;
    replicas = replicas == null ? List.of() : List.copyOf(replicas);
  }
}
