package io.disaggmoe.gateway.config;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.util.unit.DataSize;

/**
 * {@code disaggmoe.gateway.*}: the checkpoint (for its tokenizer and config; no weights are
 * loaded), the name clients use for it, the context it serves (the model's unless capped), the
 * stages' addresses, the API keys file (none: open), and the limits: requests running and waiting,
 * choices per request, body size, time limits, attempts; and which web pages' scripts may call it
 * (CORS).
 */
@ConfigurationProperties("disaggmoe.gateway")
public record GatewayProperties(
    Path model,
    String servedModelName,
    List<String> prefill,
    List<String> decode,
    String kvCache,
    Path apiKeys,
    Integer maxRunning,
    Integer maxWaiting,
    Integer maxN,
    DataSize maxBody,
    Duration prefillTimeout,
    Duration requestTimeout,
    Integer maxAttempts,
    Integer maxModelLen,
    List<String> allowedOrigins,
    List<String> allowedMethods,
    List<String> allowedHeaders,
    Boolean allowCredentials) {
  public GatewayProperties {
    if (model == null) {
      throw new IllegalArgumentException("disaggmoe.gateway.model (the checkpoint) is required");
    }
    prefill = prefill == null ? List.of() : prefill;
    decode = decode == null ? List.of() : decode;
    if (decode.isEmpty()) {
      throw new IllegalArgumentException(
          "disaggmoe.gateway.decode (at least one decode instance, HOST:PORT) is required");
    }
    if (kvCache == null || kvCache.isBlank()) {
      throw new IllegalArgumentException(
          "disaggmoe.gateway.kv-cache (the kv-cache-service address) is required");
    }
    servedModelName =
        servedModelName == null || servedModelName.isBlank()
            ? model.toAbsolutePath().normalize().getFileName().toString()
            : servedModelName;
    maxRunning = maxRunning == null ? 256 : maxRunning;
    maxWaiting = maxWaiting == null ? 1024 : maxWaiting;
    maxN = maxN == null ? 16 : maxN;
    maxBody = maxBody == null ? DataSize.ofMegabytes(8) : maxBody;
    prefillTimeout = prefillTimeout == null ? Duration.ofSeconds(120) : prefillTimeout;
    requestTimeout = requestTimeout == null ? Duration.ofMinutes(30) : requestTimeout;
    maxAttempts = maxAttempts == null ? 3 : maxAttempts;
    if (maxModelLen != null && maxModelLen < 2) {
      throw new IllegalArgumentException(
          "disaggmoe.gateway.max-model-len must leave room for a prompt and a token: at least 2");
    }
    // vLLM's CORS defaults: any origin, method and header; no credentials.
    allowedOrigins =
        allowedOrigins == null
            ? List.of("*")
            : allowedOrigins.stream().filter(o -> !o.isBlank()).toList();
    allowedMethods = allowedMethods == null ? List.of("*") : allowedMethods;
    allowedHeaders = allowedHeaders == null ? List.of("*") : allowedHeaders;
    allowCredentials = allowCredentials != null && allowCredentials;
  }
}
