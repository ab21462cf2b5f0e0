package io.disaggmoe.gateway.core;

import io.github.resilience4j.ratelimiter.RateLimiter;
import io.github.resilience4j.ratelimiter.RateLimiterConfig;
import io.github.resilience4j.ratelimiter.internal.AtomicRateLimiter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The API keys of a keys file, {@code {"keys": [{"key": "sk-...", "tenant": "acme",
 * "requests_per_minute": 600, "tokens_per_minute": 200000}]}}, each with its own request and token
 * rate limits. Keys are compared as SHA-256 digests in constant time, all of them every time, so
 * the time taken says nothing of how much of a key was right. With no file the gateway is open and
 * every request is tenant {@code default}.
 */
public final class ApiKeys {
  public static final String OPEN_TENANT = "default";

  private final List<Key> keys;

  /** One key's tenant and limits. */
  public static final class Key {
    final byte[] digest;
    final String tenant;
    final int tokensPerMinute;
    final RateLimiter requests;
    final RateLimiter tokens;

    Key(byte[] digest, String tenant, int requestsPerMinute, int tokensPerMinute) {
      this.digest = digest;
      this.tenant = tenant;
      this.tokensPerMinute = tokensPerMinute;
      this.requests = limiter(tenant + " requests", requestsPerMinute);
      this.tokens = limiter(tenant + " tokens", tokensPerMinute);
    }

    public String tenant() {
      return tenant;
    }

    /** Takes one request from this minute's budget, or fails with a 429. */
    public void admitRequest() {
      if (requests != null && !requests.acquirePermission()) {
        throw ApiException.rateLimited(
            "rate limit reached for tenant " + tenant + ": requests per minute",
            retryAfter(requests),
            true);
      }
    }

    /** Takes prompt + max tokens from this minute's budget, or fails with a 429. */
    public void admitTokens(int count) {
      if (tokens == null) {
        return;
      }
      if (count > tokensPerMinute) {
        throw ApiException.rateLimited(
            "this request needs "
                + count
                + " tokens (prompt + max_tokens), more than tenant "
                + tenant
                + "'s quota of "
                + tokensPerMinute
                + " per minute",
            60,
            false);
      }
      if (!tokens.acquirePermission(count)) {
        throw ApiException.rateLimited(
            "rate limit reached for tenant " + tenant + ": tokens per minute",
            retryAfter(tokens),
            true);
      }
    }

    private static long retryAfter(RateLimiter limiter) {
      long nanos =
          limiter instanceof AtomicRateLimiter a
              ? a.getDetailedMetrics().getNanosToWait()
              : 60_000_000_000L;
      return Math.max(1, (nanos + 999_999_999) / 1_000_000_000);
    }
  }

  private ApiKeys(List<Key> keys) {
    this.keys = keys;
  }

  public static ApiKeys open() {
    return new ApiKeys(null);
  }

  public static ApiKeys load(Path file) throws IOException {
    JsonNode root;
    try {
      root = JsonMapper.builder().build().readTree(file.toFile());
    } catch (JacksonException e) {
      throw new IOException("API keys file " + file + " is not valid JSON: " + e.getMessage(), e);
    }
    JsonNode list = root.path("keys");
    if (!list.isArray() || list.isEmpty()) {
      throw new IOException("API keys file " + file + " has no \"keys\" array of keys");
    }
    List<Key> keys = new ArrayList<>();
    for (int i = 0; i < list.size(); i++) {
      JsonNode k = list.get(i);
      String key = k.path("key").asString("");
      if (key.isEmpty()) {
        throw new IOException("API keys file " + file + ": keys[" + i + "] has no \"key\"");
      }
      keys.add(
          new Key(
              sha256(key),
              k.path("tenant").asString("key" + i),
              k.path("requests_per_minute").asInt(0),
              k.path("tokens_per_minute").asInt(0)));
    }
    return new ApiKeys(keys);
  }

  /** The prefix-cache salt of a request made with {@code key} (null on an open gateway). */
  public static String tenantOf(Key key) {
    return key == null ? OPEN_TENANT : key.tenant();
  }

  /** Takes one request and {@code tokens} from the key's budgets; nothing on an open gateway. */
  public static void admit(Key key, int tokens) {
    if (key != null) {
      key.admitRequest();
      key.admitTokens(tokens);
    }
  }

  public boolean isOpen() {
    return keys == null;
  }

  /**
   * The key an {@code Authorization} header names; null for an open gateway. Fails with a 401 when
   * the header is missing or names no key.
   */
  public Key authenticate(String authorization) {
    if (keys == null) {
      return null;
    }
    if (authorization == null || !authorization.regionMatches(true, 0, "Bearer ", 0, 7)) {
      throw ApiException.unauthorized(
          "missing API key: send it as the header 'Authorization: Bearer KEY'");
    }
    byte[] given = sha256(authorization.substring(7).trim());
    Key found = null;
    for (Key k : keys) {
      if (MessageDigest.isEqual(k.digest, given) && found == null) {
        found = k;
      }
    }
    if (found == null) {
      throw ApiException.unauthorized("incorrect API key provided");
    }
    return found;
  }

  private static RateLimiter limiter(String name, int perMinute) {
    if (perMinute <= 0) {
      return null;
    }
    return RateLimiter.of(
        name,
        RateLimiterConfig.custom()
            .limitForPeriod(perMinute)
            .limitRefreshPeriod(Duration.ofMinutes(1))
            .timeoutDuration(Duration.ZERO)
            .build());
  }

  private static byte[] sha256(String s) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
