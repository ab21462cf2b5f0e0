package io.disaggmoe.gateway.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.proto.v1.FinishReason;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.List;
import org.junit.jupiter.api.Test;

class GatewayMetricsTest {
  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  private final GatewayMetrics metrics = new GatewayMetrics(registry, "tiny", 4096, () -> 0);

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

  @Test
  void aFinishedRequestsPhasesAndShapeUnderVllmsNames() throws Exception {
    PrometheusMeterRegistry prometheus = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    GatewayMetrics m = new GatewayMetrics(prometheus, "tiny", 4096, () -> 0);
    RequestTimer timer = new RequestTimer(m, 30, 2, 100);
    Thread.sleep(20);
    timer.admitted();
    timer.tokens(1, FinishReason.FINISH_REASON_UNSPECIFIED);
    Thread.sleep(20);
    timer.tokens(3, FinishReason.FINISH_REASON_LENGTH);
    timer.finished(4);
    String text = prometheus.scrape();
    for (String histogram :
        List.of(
            "vllm:request_queue_time_seconds",
            "vllm:request_prefill_time_seconds",
            "vllm:request_decode_time_seconds",
            "vllm:request_inference_time_seconds",
            "vllm:request_prompt_tokens",
            "vllm:request_generation_tokens",
            "vllm:request_params_n",
            "vllm:request_params_max_tokens")) {
      assertThat(text).as(histogram).contains(histogram + "_count{model_name=\"tiny\"} 1");
    }
    assertThat(text).contains("vllm:request_prompt_tokens_sum{model_name=\"tiny\"} 30.0");
    assertThat(text).contains("vllm:request_params_n_sum{model_name=\"tiny\"} 2.0");
    assertThat(text)
        .as("vLLM's 1-2-5 buckets up to the context")
        .contains("vllm:request_prompt_tokens_bucket{model_name=\"tiny\",le=\"50.0\"} 1")
        .contains("vllm:request_prompt_tokens_bucket{model_name=\"tiny\",le=\"20.0\"} 0")
        .contains("le=\"2000.0\"")
        .doesNotContain("vllm:request_prompt_tokens_bucket{model_name=\"tiny\",le=\"5000.0\"}");
    double queued = prometheus.get("vllm:request_queue_time_seconds").summary().totalAmount();
    double decode = prometheus.get("vllm:request_decode_time_seconds").summary().totalAmount();
    assertThat(queued).as("queue time").isGreaterThanOrEqualTo(0.02);
    assertThat(decode).as("first token to last").isGreaterThanOrEqualTo(0.02);
  }
}
