package io.disaggmoe.cli;

import com.google.common.util.concurrent.ListenableFuture;
import io.disaggmoe.proto.v1.AttentionServiceGrpc;
import io.disaggmoe.proto.v1.DecodeRequest;
import io.disaggmoe.proto.v1.DecodeResponse;
import io.disaggmoe.proto.v1.PrefillRequest;
import io.disaggmoe.proto.v1.PrefillResponse;
import io.disaggmoe.proto.v1.SamplingParams;
import io.grpc.ManagedChannel;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalDouble;
import java.util.SplittableRandom;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Times the decode role as a client sees it: {@code batch} seeded random prompts go through Prefill
 * on the prefill instance, then {@code batch} concurrent Decode streams run on the decode instance,
 * which batches them continuously. Throughput counts the tokens that arrive after every stream has
 * had {@code warmup} (so all have joined the batch) until the last stream ends.
 */
final class DecodeRoleBenchmark {
  private DecodeRoleBenchmark() {}

  /** One Decode stream's token arrival times. */
  private static final class Arrivals implements StreamObserver<DecodeResponse> {
    final List<Long> nanos = new ArrayList<>();
    final CompletableFuture<Void> done = new CompletableFuture<>();

    @Override
    public synchronized void onNext(DecodeResponse r) {
      long now = System.nanoTime();
      for (int i = 0; i < r.getTokensCount(); i++) {
        nanos.add(now);
      }
    }

    @Override
    public void onError(Throwable t) {
      done.completeExceptionally(t);
    }

    @Override
    public void onCompleted() {
      done.complete(null);
    }
  }

  static DecodeBenchmark.Result run(
      SplitDeployment services, int batch, int promptLength, int warmup, int steps, int vocab)
      throws Exception {
    String run = "bench-" + UUID.randomUUID();
    SamplingParams greedy =
        SamplingParams.newBuilder()
            .setTemperature(0)
            .setIgnoreEos(true)
            .setMaxTokens(1 + warmup + steps)
            .build();
    SplittableRandom random = new SplittableRandom(batch);
    ManagedChannel prefillChannel = services.channel(services.prefillTarget());
    ManagedChannel decodeChannel = services.channel(services.decodeTarget());
    try {
      var prefill =
          AttentionServiceGrpc.newFutureStub(prefillChannel)
              .withDeadlineAfter(10, TimeUnit.MINUTES);
      List<PrefillRequest> prompts = new ArrayList<>();
      // All prompts at once, so the prefill instance batches them too.
      List<ListenableFuture<PrefillResponse>> firsts = new ArrayList<>();
      for (int s = 0; s < batch; s++) {
        PrefillRequest.Builder p =
            PrefillRequest.newBuilder()
                .setRequestId(run + "-" + s)
                .setTenant(run)
                .setSampling(greedy);
        random.ints(promptLength, 0, vocab).forEach(p::addPromptIds);
        prompts.add(p.build());
        firsts.add(prefill.prefill(prompts.getLast()));
      }
      var decode =
          AttentionServiceGrpc.newStub(decodeChannel).withDeadlineAfter(10, TimeUnit.MINUTES);
      List<Arrivals> streams = new ArrayList<>();
      for (int s = 0; s < batch; s++) {
        PrefillRequest p = prompts.get(s);
        PrefillResponse first = firsts.get(s).get(10, TimeUnit.MINUTES);
        Arrivals a = new Arrivals();
        decode.decode(
            DecodeRequest.newBuilder()
                .setRequestId(p.getRequestId())
                .setTenant(run)
                .addAllPromptIds(p.getPromptIdsList())
                .addGeneratedIds(first.getFirstToken().getTokenId())
                .setCache(first.getCache())
                .setSampling(greedy)
                .build(),
            a);
        streams.add(a);
      }
      for (Arrivals a : streams) {
        a.done.get(10, TimeUnit.MINUTES);
      }
      long start = 0;
      long end = 0;
      for (Arrivals a : streams) {
        if (a.nanos.size() != warmup + steps) {
          throw new IllegalStateException(
              "a decode stream sent " + a.nanos.size() + " tokens, " + (warmup + steps) + " asked");
        }
        start = Math.max(start, a.nanos.get(Math.max(1, warmup) - 1));
        end = Math.max(end, a.nanos.getLast());
      }
      long tokens = 0;
      for (Arrivals a : streams) {
        final long from = start;
        tokens += a.nanos.stream().filter(t -> t > from).count();
      }
      double seconds = (end - start) / 1e9;
      double tokensPerSecond = tokens / seconds;
      return new DecodeBenchmark.Result(
          batch,
          1000.0 * batch / tokensPerSecond,
          tokensPerSecond,
          OptionalDouble.empty(),
          OptionalDouble.empty(),
          OptionalDouble.empty(),
          OptionalDouble.empty(),
          List.of());
    } finally {
      prefillChannel.shutdownNow();
      decodeChannel.shutdownNow();
    }
  }
}
