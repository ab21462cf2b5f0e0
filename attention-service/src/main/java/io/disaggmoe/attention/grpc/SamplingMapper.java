package io.disaggmoe.attention.grpc;

import io.disaggmoe.model.sampling.FinishReason;
import io.disaggmoe.model.sampling.SampledToken;
import io.disaggmoe.model.sampling.SamplingParams;
import io.disaggmoe.model.sampling.TokenLogprob;
import java.util.HashSet;
import java.util.List;

/** Sampling parameters, sampled tokens and finish reasons between the wire and the model. */
final class SamplingMapper {
  private SamplingMapper() {}

  /** Unset fields keep the model's defaults; range checks happen when the request runs. */
  static SamplingParams fromProto(io.disaggmoe.proto.v1.SamplingParams p) {
    SamplingParams.Builder b = SamplingParams.builder();
    if (p.hasTemperature()) {
      b.temperature(p.getTemperature());
    }
    if (p.hasTopP()) {
      b.topP(p.getTopP());
    }
    if (p.hasTopK()) {
      b.topK(p.getTopK());
    }
    if (p.hasMinP()) {
      b.minP(p.getMinP());
    }
    if (p.hasSeed()) {
      b.seed(p.getSeed());
    }
    if (p.hasPresencePenalty()) {
      b.presencePenalty(p.getPresencePenalty());
    }
    if (p.hasFrequencyPenalty()) {
      b.frequencyPenalty(p.getFrequencyPenalty());
    }
    if (p.hasRepetitionPenalty()) {
      b.repetitionPenalty(p.getRepetitionPenalty());
    }
    if (p.hasMaxTokens()) {
      b.maxTokens(p.getMaxTokens());
    }
    if (p.hasSkipSpecialTokens()) {
      b.skipSpecialTokens(p.getSkipSpecialTokens());
    }
    return b.logitBias(p.getLogitBiasMap())
        .stopTokenIds(new HashSet<>(p.getStopTokenIdsList()))
        .stop(List.copyOf(p.getStopList()))
        .ignoreEos(p.getIgnoreEos())
        .logprobs(p.getLogprobs())
        .topLogprobs(p.getTopLogprobs())
        .minTokens(p.getMinTokens())
        .includeStopStrInOutput(p.getIncludeStopStrInOutput())
        .build();
  }

  static io.disaggmoe.proto.v1.SampledToken toProto(SampledToken t) {
    var b = io.disaggmoe.proto.v1.SampledToken.newBuilder().setTokenId(t.tokenId());
    if (t.logprob() != null) {
      b.setLogprob(t.logprob().logprob());
    }
    for (TokenLogprob alt : t.topLogprobs()) {
      b.addTopLogprobs(
          io.disaggmoe.proto.v1.TokenLogprob.newBuilder()
              .setTokenId(alt.tokenId())
              .setLogprob(alt.logprob()));
    }
    return b.build();
  }

  static io.disaggmoe.proto.v1.FinishReason toProto(FinishReason r) {
    if (r == null) {
      return io.disaggmoe.proto.v1.FinishReason.FINISH_REASON_UNSPECIFIED;
    }
    return switch (r) {
      case STOP -> io.disaggmoe.proto.v1.FinishReason.FINISH_REASON_STOP;
      case LENGTH -> io.disaggmoe.proto.v1.FinishReason.FINISH_REASON_LENGTH;
    };
  }
}
