package io.disaggmoe.kvcache.config;

import java.nio.file.Path;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.util.unit.DataSize;

/**
 * {@code disaggmoe.kv-cache.*}: the memory byte budget, the optional disk tier's directory and byte
 * budget, the tokens per block, and the bulk channel's port (0: any free port, named to clients
 * over gRPC; -1: none, blocks move over gRPC).
 */
@ConfigurationProperties("disaggmoe.kv-cache")
public record KvCacheServiceProperties(
    DataSize capacity, Path disk, DataSize diskCapacity, Integer blockTokens, Integer bulkPort) {
  public KvCacheServiceProperties {
    capacity = capacity == null ? DataSize.ofGigabytes(1) : capacity;
    diskCapacity = diskCapacity == null ? DataSize.ofGigabytes(10) : diskCapacity;
    blockTokens = blockTokens == null ? 64 : blockTokens;
    bulkPort = bulkPort == null ? 0 : bulkPort;
  }
}
