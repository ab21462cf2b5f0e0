package io.disaggmoe.attention.config;

import io.disaggmoe.attention.client.KvDtype;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.util.unit.DataSize;

/**
 * {@code disaggmoe.attention.*}: the checkpoint, the role (prefill or decode), the expert pools
 * ({@code host:port}; none runs the routed experts in this process), kv-cache-service, the MLA
 * path, micro-batch overlap, the deadline of every remote call, the prefill token budget per
 * forward pass and the prompt tokens its queue may hold, the decode KV memory budget and batch
 * size, and the dtype blocks are put to kv-cache-service in ({@code f32}, the default and exact, or
 * {@code bf16}, half the bytes). With a control plane, a dispatch whose experts no live pool holds
 * waits up to {@code failover-wait} for the plane to place them again before it fails. {@code
 * warmup}: how long synthetic requests run through the model (and its pools) before the instance
 * serves, so that the JIT has compiled their path first (0, the default: none).
 */
@ConfigurationProperties("disaggmoe.attention")
public record AttentionServiceProperties(
    Path model,
    String role,
    List<String> experts,
    String kvCache,
    String attn,
    Boolean overlap,
    Duration deadline,
    Integer prefillTokenBudget,
    Integer prefillMaxQueuedTokens,
    DataSize kvBudget,
    Integer maxBatch,
    Duration pinTtl,
    String kvDtype,
    Boolean debugForward,
    Duration failoverWait,
    Duration warmup) {
  public AttentionServiceProperties {
    if (model == null) {
      throw new IllegalArgumentException("disaggmoe.attention.model (the checkpoint) is required");
    }
    role = role == null ? "decode" : role;
    if (!role.equals("prefill") && !role.equals("decode")) {
      throw new IllegalArgumentException(
          "disaggmoe.attention.role must be prefill or decode, got " + role);
    }
    experts = experts == null ? List.of() : experts;
    attn = attn == null ? "absorb" : attn;
    overlap = overlap == null || overlap;
    deadline = deadline == null ? Duration.ofSeconds(30) : deadline;
    prefillTokenBudget = prefillTokenBudget == null ? 512 : prefillTokenBudget;
    prefillMaxQueuedTokens = prefillMaxQueuedTokens == null ? 65536 : prefillMaxQueuedTokens;
    kvBudget = kvBudget == null ? DataSize.ofGigabytes(2) : kvBudget;
    maxBatch = maxBatch == null ? 64 : maxBatch;
    pinTtl = pinTtl == null ? Duration.ofMinutes(5) : pinTtl;
    kvDtype = kvDtype == null ? "f32" : kvDtype;
    debugForward = debugForward != null && debugForward;
    failoverWait = failoverWait == null ? Duration.ofSeconds(15) : failoverWait;
    warmup = warmup == null ? Duration.ZERO : warmup;
    if (warmup.isNegative()) {
      throw new IllegalArgumentException(
          "disaggmoe.attention.warmup must not be negative: " + warmup);
    }
    KvDtype.parse(kvDtype);
  }
}
