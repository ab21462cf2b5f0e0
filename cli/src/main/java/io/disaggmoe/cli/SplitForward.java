package io.disaggmoe.cli;

import io.disaggmoe.model.GreedyForward;
import io.disaggmoe.proto.Tensors;
import io.disaggmoe.proto.v1.AttentionServiceGrpc;
import io.disaggmoe.proto.v1.DecodeRequest;
import io.disaggmoe.proto.v1.DecodeResponse;
import io.disaggmoe.proto.v1.PrefillRequest;
import io.disaggmoe.proto.v1.PrefillResponse;
import io.disaggmoe.proto.v1.SamplingParams;
import io.grpc.ManagedChannel;
import java.util.Arrays;
import java.util.Iterator;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * The greedy forward of {@code forward --split}: Prefill on the prefill instance with the prompt's
 * logits, then Decode on the decode instance from the cache handle, with each step's logits.
 */
final class SplitForward {
  private SplitForward() {}

  static GreedyForward run(SplitDeployment services, int[] prompt, int steps, int vocab) {
    String id = "forward-" + UUID.randomUUID();
    // A fresh tenant salt: every position is computed, as LocalModel computes it.
    SamplingParams greedy =
        SamplingParams.newBuilder()
            .setTemperature(0)
            .setIgnoreEos(true)
            .setMaxTokens(steps + 1)
            .build();
    ManagedChannel prefillChannel = services.channel(services.prefillTarget());
    ManagedChannel decodeChannel = services.channel(services.decodeTarget());
    try {
      PrefillRequest.Builder p =
          PrefillRequest.newBuilder()
              .setRequestId(id)
              .setTenant(id)
              .setSampling(greedy)
              .setReturnLogits(true);
      Arrays.stream(prompt).forEach(p::addPromptIds);
      PrefillResponse first =
          AttentionServiceGrpc.newBlockingStub(prefillChannel)
              .withDeadlineAfter(10, TimeUnit.MINUTES)
              .prefill(p.build());
      float[] prefillLogits = Tensors.toF32(first.getLogits(), "prefill logits", 2);
      long[] ids = new long[steps + 1];
      ids[0] = first.getFirstToken().getTokenId();
      float[] decodeLogits = new float[steps * vocab];
      if (steps > 0) {
        DecodeRequest.Builder d =
            DecodeRequest.newBuilder()
                .setRequestId(id)
                .setTenant(id)
                .addGeneratedIds((int) ids[0])
                .setCache(first.getCache())
                .setSampling(greedy)
                .setReturnLogits(true);
        Arrays.stream(prompt).forEach(d::addPromptIds);
        Iterator<DecodeResponse> stream =
            AttentionServiceGrpc.newBlockingStub(decodeChannel)
                .withDeadlineAfter(10, TimeUnit.MINUTES)
                .decode(d.build());
        int step = 0;
        while (stream.hasNext()) {
          DecodeResponse r = stream.next();
          float[] logits = Tensors.toF32(r.getLogits(), "decode logits", 2);
          for (var token : r.getTokensList()) {
            if (step == steps) {
              throw new IllegalStateException(
                  "the decode instance streamed more than the " + steps + " tokens asked for");
            }
            // Step j's logits come from feeding ids[j]; they chose ids[j + 1].
            System.arraycopy(logits, 0, decodeLogits, step * vocab, vocab);
            ids[++step] = token.getTokenId();
          }
        }
        if (step != steps) {
          throw new IllegalStateException(
              "the decode instance streamed " + step + " tokens, " + steps + " were asked for");
        }
      }
      return new GreedyForward(prefillLogits, decodeLogits, ids);
    } finally {
      prefillChannel.shutdownNow();
      decodeChannel.shutdownNow();
    }
  }
}
