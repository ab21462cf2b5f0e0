package io.disaggmoe.gateway.core;

import io.disaggmoe.proto.v1.FinishReason;
import io.disaggmoe.proto.v1.SampledToken;
import java.util.List;

/**
 * Receives one choice as it is generated: once the prompt is in the cache, then chunks (the last
 * carries the finish reason), then exactly one of done or error. Calls come from transport threads,
 * one at a time.
 */
public interface GenerationListener {
  /**
   * The prompt is computed; {@code cachedTokens} of it came from the prefix cache; {@code
   * promptLogprobs} scores prompt tokens 1.. when they were asked for (else empty).
   */
  void onPrefilled(int cachedTokens, List<SampledToken> promptLogprobs);

  /** The prefill instance at {@code address} computed the prompt (just before onPrefilled). */
  default void onPrefillInstance(String address) {}

  /**
   * The choice goes on at the decode instance at {@code address}: once, or again after each
   * migration.
   */
  default void onDecodeInstance(String address) {}

  /** Tokens and the text they release; {@code finish} is UNSPECIFIED until the last chunk. */
  void onChunk(List<SampledToken> tokens, String text, FinishReason finish);

  void onDone();

  void onError(ApiException e);
}
