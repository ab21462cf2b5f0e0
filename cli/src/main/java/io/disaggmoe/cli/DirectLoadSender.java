package io.disaggmoe.cli;

import io.disaggmoe.proto.v1.AttentionServiceGrpc;
import io.disaggmoe.proto.v1.DecodeRequest;
import io.disaggmoe.proto.v1.DecodeResponse;
import io.disaggmoe.proto.v1.FinishReason;
import io.disaggmoe.proto.v1.PrefillRequest;
import io.disaggmoe.proto.v1.PrefillResponse;
import io.disaggmoe.proto.v1.SamplingParams;
import io.disaggmoe.proto.wire.StageChannels;
import io.grpc.ManagedChannel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The same requests sent straight to the prefill and decode instances' gRPC API, doing what the
 * gateway does (prefill, then decode from the cache handle) without it: the baseline of the
 * gateway's overhead.
 */
final class DirectLoadSender implements LoadSender {
  private final List<ManagedChannel> channels = new ArrayList<>();
  private final List<AttentionServiceGrpc.AttentionServiceBlockingStub> prefill = new ArrayList<>();
  private final List<AttentionServiceGrpc.AttentionServiceBlockingStub> decode = new ArrayList<>();
  private final AtomicLong next = new AtomicLong();
  private final double temperature;

  DirectLoadSender(
      List<String> prefillAddresses, List<String> decodeAddresses, double temperature) {
    this.temperature = temperature;
    prefillAddresses.forEach(a -> prefill.add(AttentionServiceGrpc.newBlockingStub(open(a))));
    decodeAddresses.forEach(a -> decode.add(AttentionServiceGrpc.newBlockingStub(open(a))));
  }

  private ManagedChannel open(String address) {
    ManagedChannel c = StageChannels.plaintext().open(address, StageChannels.Kind.CALLS);
    channels.add(c);
    return c;
  }

  @Override
  public RequestTiming send(int[] promptIds, int outputTokens) {
    long i = next.getAndIncrement();
    String id = "direct-" + ProcessHandle.current().pid() + "-" + i;
    SamplingParams sampling =
        SamplingParams.newBuilder()
            .setMaxTokens(outputTokens)
            .setIgnoreEos(true)
            .setTemperature(temperature)
            .build();
    List<Integer> prompt = Arrays.stream(promptIds).boxed().toList();
    long sent = System.nanoTime();
    try {
      PrefillResponse first =
          prefill
              .get((int) (i % prefill.size()))
              .withDeadlineAfter(10, TimeUnit.MINUTES)
              .prefill(
                  PrefillRequest.newBuilder()
                      .setRequestId(id)
                      .setTenant("default")
                      .addAllPromptIds(prompt)
                      .setSampling(sampling)
                      .build());
      long[] chunks = new long[outputTokens + 1];
      int n = 0;
      chunks[n++] = System.nanoTime();
      int tokens = 1;
      if (first.getFinishReason() == FinishReason.FINISH_REASON_UNSPECIFIED) {
        Iterator<DecodeResponse> stream =
            decode
                .get((int) (i % decode.size()))
                .withDeadlineAfter(10, TimeUnit.MINUTES)
                .decode(
                    DecodeRequest.newBuilder()
                        .setRequestId(id)
                        .setTenant("default")
                        .addAllPromptIds(prompt)
                        .addGeneratedIds(first.getFirstToken().getTokenId())
                        .setCache(first.getCache())
                        .setSampling(sampling)
                        .build());
        while (stream.hasNext()) {
          DecodeResponse r = stream.next();
          if (n == chunks.length) {
            chunks = Arrays.copyOf(chunks, 2 * n);
          }
          chunks[n++] = System.nanoTime();
          tokens += r.getTokensCount();
        }
      }
      return new RequestTiming(sent, Arrays.copyOf(chunks, n), System.nanoTime(), tokens, null);
    } catch (RuntimeException e) {
      return RequestTiming.failed(sent, e.toString());
    }
  }

  @Override
  public void close() {
    channels.forEach(ManagedChannel::shutdownNow);
  }
}
