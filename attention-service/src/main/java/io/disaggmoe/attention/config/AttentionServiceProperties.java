package io.disaggmoe.attention.config;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.springframework.boot.context.properties.ConfigurationProperties;

/**
 * {@code disaggmoe.attention.*}: the checkpoint, the expert pools ({@code host:port}), the MLA
 * path, micro-batch overlap and the deadline of every expert call.
 */
@ConfigurationProperties("disaggmoe.attention")
public record AttentionServiceProperties(
    Path model,
    List<String> experts,
    String attn,
    Boolean overlap,
    Duration deadline,
    String role) {
  public AttentionServiceProperties {
    if (model == null) {
      throw new IllegalArgumentException("disaggmoe.attention.model (the checkpoint) is required");
    }
    if (experts == null || experts.isEmpty()) {
      throw new IllegalArgumentException(
          "disaggmoe.attention.experts (expert pool addresses) is required");
    }
    attn = attn == null ? "absorb" : attn;
    overlap = overlap == null || overlap;
    deadline = deadline == null ? Duration.ofSeconds(30) : deadline;
    role = role == null ? "decode" : role;
  }
}
