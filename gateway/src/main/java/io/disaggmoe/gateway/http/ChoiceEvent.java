package io.disaggmoe.gateway.http;

import io.disaggmoe.gateway.core.RequestTimer;
import io.disaggmoe.proto.v1.FinishReason;
import io.disaggmoe.proto.v1.SampledToken;
import java.util.List;

/**
 * What one choice of a request produced: its prompt computed ({@code cachedTokens} >= 0; {@code
 * tokens} then scores prompt tokens 1.. when that was asked for), or tokens with their text (the
 * last with a finish reason).
 */
record ChoiceEvent(
    int index, int cachedTokens, List<SampledToken> tokens, String text, FinishReason finish) {
  static ChoiceEvent prefilled(int index, int cachedTokens, List<SampledToken> promptLogprobs) {
    return new ChoiceEvent(
        index, cachedTokens, promptLogprobs, "", FinishReason.FINISH_REASON_UNSPECIFIED);
  }

  boolean isPrefilled() {
    return cachedTokens >= 0;
  }

  boolean finished() {
    return finish != FinishReason.FINISH_REASON_UNSPECIFIED;
  }

  /** OpenAI's name of the finish reason, or null while the choice goes on. */
  String finishName() {
    return RequestTimer.openAiName(finish);
  }
}
