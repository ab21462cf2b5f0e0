package io.disaggmoe.gateway.core;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.DoubleSupplier;
import java.util.function.LongConsumer;
import java.util.function.Supplier;

/**
 * The gateway's metrics under vLLM's names (so dashboards built for vLLM read them), each with a
 * {@code model_name} label, plus the request migrations only a split deployment has.
 */
public final class GatewayMetrics {
  private static final double[] LATENCY_BUCKETS = {
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    20.0, 40.0, 80.0
  };

  /** vLLM's buckets for the phases of a request, which last seconds to hours. */
  private static final double[] PHASE_BUCKETS = {
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0,
    480.0, 960.0, 1920.0, 7680.0
  };

  private final MeterRegistry registry;
  private final String model;
  private final DistributionSummary queue;
  private final DistributionSummary prefill;
  private final DistributionSummary decode;
  private final DistributionSummary inference;
  private final DistributionSummary requestPromptTokens;
  private final DistributionSummary requestGenerationTokens;
  private final DistributionSummary requestN;
  private final DistributionSummary requestMaxTokens;
  private final DistributionSummary ttft;
  private final DistributionSummary itl;
  private final DistributionSummary tpot;
  private final DistributionSummary e2e;
  private final Counter promptTokens;
  private final Counter generationTokens;
  private final Counter prefixQueries;
  private final Counter prefixHits;
  private final AtomicInteger running = new AtomicInteger();
  private final AtomicInteger waiting = new AtomicInteger();

  public GatewayMetrics(
      MeterRegistry registry, String model, int maxModelLen, DoubleSupplier kvUsage) {
    this.registry = registry;
    this.model = model;
    queue = phase("vllm:request_queue_time_seconds", "Time waiting for an admission place");
    prefill = phase("vllm:request_prefill_time_seconds", "Time from admission to the first token");
    decode = phase("vllm:request_decode_time_seconds", "Time from the first token to the last");
    inference = phase("vllm:request_inference_time_seconds", "Time from admission to the end");
    requestPromptTokens =
        sizes("vllm:request_prompt_tokens", "Prompt tokens of a finished request", maxModelLen);
    requestGenerationTokens =
        sizes(
            "vllm:request_generation_tokens",
            "Tokens generated for a finished request",
            maxModelLen);
    requestN = sizes("vllm:request_params_n", "The n of a finished request", 20);
    requestMaxTokens =
        sizes(
            "vllm:request_params_max_tokens", "The max_tokens of a finished request", maxModelLen);
    ttft = seconds("vllm:time_to_first_token_seconds", "Time to first token");
    itl = seconds("vllm:inter_token_latency_seconds", "Time between two streamed tokens");
    tpot = seconds("vllm:request_time_per_output_token_seconds", "Mean time per output token");
    e2e = seconds("vllm:e2e_request_latency_seconds", "End-to-end request latency");
    promptTokens = counter("vllm:prompt_tokens", "Prompt tokens processed");
    generationTokens = counter("vllm:generation_tokens", "Generation tokens produced");
    prefixQueries = counter("vllm:prefix_cache_queries", "Prompt tokens looked up in the cache");
    prefixHits = counter("vllm:prefix_cache_hits", "Prompt tokens found in the cache");
    Gauge.builder("vllm:num_requests_running", running, AtomicInteger::get)
        .description("Sequences being generated (a request's prompts times n)")
        .tag("model_name", model)
        .register(registry);
    Gauge.builder("vllm:num_requests_waiting", waiting, AtomicInteger::get)
        .description("Requests waiting for an admission slot")
        .tag("model_name", model)
        .register(registry);
    Gauge.builder("vllm:kv_cache_usage_perc", kvUsage::getAsDouble)
        .description("Fraction of the decode instances' KV budget in use (1 = full)")
        .tag("model_name", model)
        .register(registry);
    // Every reason from the start, at 0: dashboards and alerts can then rate them at once.
    for (String reason : MIGRATION_REASONS) {
      migrations(reason);
    }
  }

  /** Why a request moved to another instance mid-flight. */
  static final List<String> MIGRATION_REASONS =
      List.of("prefill_unavailable", "decode_failed", "decode_overloaded");

  /**
   * Per role (prefill, decode), the instances routed to and how many of their circuit breakers are
   * not closed (open or half-open), read when scraped.
   */
  public void stages(String role, Supplier<List<? extends AttentionStage>> instances) {
    Gauge.builder("disaggmoe:stage_instances", () -> instances.get().size())
        .description("Attention instances this gateway routes to")
        .tag("model_name", model)
        .tag("role", role)
        .register(registry);
    Gauge.builder(
            "disaggmoe:stage_breakers_open",
            () -> instances.get().stream().filter(s -> !s.breaker().equals("CLOSED")).count())
        .description("Attention instances whose circuit breaker is open or half-open")
        .tag("model_name", model)
        .tag("role", role)
        .register(registry);
  }

  private DistributionSummary seconds(String name, String description) {
    return histogram(name, description, LATENCY_BUCKETS);
  }

  private DistributionSummary phase(String name, String description) {
    return histogram(name, description, PHASE_BUCKETS);
  }

  private DistributionSummary histogram(String name, String description, double[] buckets) {
    return DistributionSummary.builder(name)
        .description(description)
        .tag("model_name", model)
        .serviceLevelObjectives(buckets)
        .register(registry);
  }

  /** A count per request, in vLLM's 1-2-5 buckets up to {@code max}. */
  private DistributionSummary sizes(String name, String description, int max) {
    List<Double> buckets = new java.util.ArrayList<>();
    for (long decade = 1; decade <= max; decade *= 10) {
      for (int m : new int[] {1, 2, 5}) {
        if (m * decade <= max) {
          buckets.add((double) (m * decade));
        }
      }
    }
    return histogram(
        name, description, buckets.stream().mapToDouble(Double::doubleValue).toArray());
  }

  private Counter counter(String name, String description) {
    return Counter.builder(name)
        .description(description)
        .tag("model_name", model)
        .register(registry);
  }

  public AtomicInteger running() {
    return running;
  }

  public AtomicInteger waiting() {
    return waiting;
  }

  public void queued(double seconds) {
    queue.record(seconds);
  }

  public void firstToken(double seconds) {
    ttft.record(seconds);
  }

  public void interToken(double seconds) {
    itl.record(seconds);
  }

  /**
   * A request ended: its latency, its output length, and why each of its choices ended (vLLM counts
   * sequences by reason).
   */
  public void finished(
      double e2eSeconds, double firstTokenSeconds, int outputTokens, List<String> reasons) {
    e2e.record(e2eSeconds);
    requestGenerationTokens.record(outputTokens);
    if (outputTokens > 1) {
      tpot.record((e2eSeconds - firstTokenSeconds) / (outputTokens - 1));
    }
    for (String why : reasons) {
      Counter.builder("vllm:request_success")
          .description("Requests finished, by reason")
          .tag("model_name", model)
          .tag("finished_reason", why)
          .register(registry)
          .increment();
    }
  }

  /** A prompt of {@code tenant} was computed, {@code cachedTokens} of it found in the cache. */
  public void prompt(String tenant, int tokens, int cachedTokens) {
    promptTokens.increment(tokens);
    prefixQueries.increment(tokens);
    prefixHits.increment(cachedTokens);
    TenantMeters t = tenant(tenant);
    t.prefixQueries.increment(tokens);
    t.prefixHits.increment(cachedTokens);
  }

  /**
   * Takes the changes of the tokens {@code tenant}'s running sequences hold (prompt and generated:
   * what their KV cache holds); looked up once per sequence, not once per token.
   */
  public LongConsumer kvTokens(String tenant) {
    return tenant(tenant).kvTokens::addAndGet;
  }

  /**
   * Per tenant (tenants come from the keys file, so they are few): prefix-cache queries and hits,
   * and the KV tokens its running sequences hold. vLLM has no tenants; these carry our own names.
   */
  private record TenantMeters(Counter prefixQueries, Counter prefixHits, AtomicLong kvTokens) {}

  private final Map<String, TenantMeters> tenants = new ConcurrentHashMap<>();

  private TenantMeters tenant(String tenant) {
    return tenants.computeIfAbsent(
        tenant,
        t -> {
          AtomicLong kv = new AtomicLong();
          Gauge.builder("disaggmoe:tenant_kv_tokens", kv, AtomicLong::get)
              .description("Tokens the tenant's running sequences hold in the KV cache")
              .tag("model_name", model)
              .tag("tenant", t)
              .register(registry);
          return new TenantMeters(
              tenantCounter("disaggmoe:tenant_prefix_cache_queries", t, "Prompt tokens looked up"),
              tenantCounter("disaggmoe:tenant_prefix_cache_hits", t, "Prompt tokens found cached"),
              kv);
        });
  }

  private Counter tenantCounter(String name, String tenant, String description) {
    return Counter.builder(name)
        .description(description)
        .tag("model_name", model)
        .tag("tenant", tenant)
        .register(registry);
  }

  /**
   * The phases of a request that ended well, as vLLM times them: admission to the first token, the
   * first token to the last, admission to the end.
   */
  public void phases(double prefillSeconds, double decodeSeconds, double inferenceSeconds) {
    prefill.record(prefillSeconds);
    decode.record(decodeSeconds);
    inference.record(inferenceSeconds);
  }

  /** What a request that ended well asked for: its prompt tokens (all prompts), n, max_tokens. */
  public void shape(int promptTokens, int n, int maxTokens) {
    requestPromptTokens.record(promptTokens);
    requestN.record(n);
    requestMaxTokens.record(maxTokens);
  }

  public void generated(int tokens) {
    generationTokens.increment(tokens);
  }

  public void migration(String reason) {
    migrations(reason).increment();
  }

  private Counter migrations(String reason) {
    return Counter.builder("disaggmoe:request_migrations")
        .description("Requests moved to another instance mid-flight")
        .tag("model_name", model)
        .tag("reason", reason)
        .register(registry);
  }
}
