package io.disaggmoe.gateway.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;

class GatewayMetricsTest {
  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  private final GatewayMetrics metrics = new GatewayMetrics(registry, "tiny", () -> 0);

  private double tenantCounter(String name, String tenant) {
    return registry.get(name).tag("tenant", tenant).counter().count();
  }

  private double kvTokens(String tenant) {
    return registry.get("disaggmoe:tenant_kv_tokens").tag("tenant", tenant).gauge().value();
  }

  @Test
  void prefixHitsAreCountedPerTenantAndInTheVllmTotals() {
    metrics.prompt("acme", 100, 64);
    metrics.prompt("acme", 50, 0);
    metrics.prompt("globex", 10, 10);

    assertThat(tenantCounter("disaggmoe:tenant_prefix_cache_queries", "acme")).isEqualTo(150);
    assertThat(tenantCounter("disaggmoe:tenant_prefix_cache_hits", "acme")).isEqualTo(64);
    assertThat(tenantCounter("disaggmoe:tenant_prefix_cache_queries", "globex")).isEqualTo(10);
    assertThat(tenantCounter("disaggmoe:tenant_prefix_cache_hits", "globex")).isEqualTo(10);
    assertThat(registry.get("vllm:prefix_cache_queries").counter().count()).isEqualTo(160);
    assertThat(registry.get("vllm:prefix_cache_hits").counter().count()).isEqualTo(74);
  }

  @Test
  void kvTokensFollowEachTenantsRunningSequences() {
    metrics.kvTokens("acme").accept(128);
    metrics.kvTokens("acme").accept(3);
    metrics.kvTokens("globex").accept(16);
    assertThat(kvTokens("acme")).isEqualTo(131);
    assertThat(kvTokens("globex")).isEqualTo(16);

    metrics.kvTokens("acme").accept(-131);
    assertThat(kvTokens("acme")).isZero();
    assertThat(kvTokens("globex")).isEqualTo(16);
  }
}
