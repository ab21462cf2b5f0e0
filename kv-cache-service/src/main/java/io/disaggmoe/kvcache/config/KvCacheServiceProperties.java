package io.disaggmoe.kvcache.config;

import java.nio.file.Path;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.util.unit.DataSize;

/**
 * {@code disaggmoe.kv-cache.*}: the byte budget, the optional disk directory, and the tokens per
 * block.
 */
@ConfigurationProperties("disaggmoe.kv-cache")
public record KvCacheServiceProperties(DataSize capacity, Path disk, Integer blockTokens) {
  public KvCacheServiceProperties {
    capacity = capacity == null ? DataSize.ofGigabytes(1) : capacity;
    blockTokens = blockTokens == null ? 64 : blockTokens;
  }
}
