package io.disaggmoe.attention.core;

import io.disaggmoe.attention.client.GrpcKvCacheClient;
import io.disaggmoe.attention.client.KvDtype;
import io.disaggmoe.kvcache.core.KvBlockStore;
import io.disaggmoe.kvcache.grpc.KvCacheGrpcService;
import io.disaggmoe.model.LocalModel;
import io.disaggmoe.model.ModelIdentity;
import io.disaggmoe.model.layer.AttentionMode;
import io.disaggmoe.model.sampling.CompletionStep;
import io.disaggmoe.model.sampling.FinishReason;
import io.disaggmoe.model.sampling.SamplingParams;
import io.disaggmoe.proto.wire.StageChannels;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * A prefill engine and a decode engine on one model (experts in process), with a real
 * kv-cache-service between them over loopback gRPC: the split deployment, minus the processes.
 */
final class SplitStack implements AutoCloseable {
  final LocalModel model;
  final KvBlockStore store;
  final Server server;
  final GrpcKvCacheClient kv;
  final PrefillEngine prefill;
  final DecodeEngine decode;

  SplitStack(Path modelDir, long kvCapacity, int blockTokens, long decodeBudget, int tokenBudget)
      throws IOException {
    this(modelDir, KvBlockStore.inMemory(kvCapacity, blockTokens), decodeBudget, tokenBudget);
  }

  SplitStack(Path modelDir, KvBlockStore store, long decodeBudget, int tokenBudget)
      throws IOException {
    model = LocalModel.load(modelDir, AttentionMode.ABSORB);
    this.store = store;
    server =
        NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
            .addService(new KvCacheGrpcService(store))
            .build()
            .start();
    var c = model.config();
    kv =
        GrpcKvCacheClient.connect(
            StageChannels.plaintext(),
            "127.0.0.1:" + server.getPort(),
            ModelIdentity.of(modelDir),
            c.numHiddenLayers(),
            c.latentDim(),
            KvDtype.F32,
            Duration.ofSeconds(30));
    CompletionFactory completions = new CompletionFactory(null, c);
    prefill =
        new PrefillEngine(model, kv, completions, tokenBudget, 1 << 20, Duration.ofMinutes(5));
    decode = new DecodeEngine(model, kv, completions, decodeBudget, 16);
  }

  static SamplingParams greedy(int maxTokens) {
    return SamplingParams.builder().temperature(0).ignoreEos(true).maxTokens(maxTokens).build();
  }

  /** What one request produced through both roles. */
  record Output(
      PrefillResult prefill, int[] ids, List<float[]> decodeLogits, FinishReason finishReason) {}

  /** A decode stream being collected. */
  static class Collector implements DecodeListener {
    final List<Integer> ids = new ArrayList<>();
    final List<float[]> logits = new ArrayList<>();
    final CompletableFuture<FinishReason> done = new CompletableFuture<>();

    @Override
    public synchronized void onStep(CompletionStep step, float[] l) {
      ids.add(step.token().tokenId());
      if (l != null) {
        logits.add(l);
      }
    }

    @Override
    public void onDone(FinishReason reason) {
      done.complete(reason);
    }

    @Override
    public void onError(RuntimeException e) {
      done.completeExceptionally(e);
    }

    synchronized int count() {
      return ids.size();
    }
  }

  PrefillResult prefill(String id, String tenant, int[] prompt, SamplingParams p, boolean logits)
      throws Exception {
    return prefill.submit(new PrefillJob(id, tenant, prompt, p, logits)).get(60, TimeUnit.SECONDS);
  }

  /** The decode job that continues {@code first}, the prefill of {@code prompt}. */
  static DecodeJob decodeJob(
      String id,
      String tenant,
      int[] prompt,
      PrefillResult first,
      SamplingParams p,
      boolean returnLogits) {
    return new DecodeJob(
        id,
        tenant,
        prompt,
        new int[] {first.first().token().tokenId()},
        first.blockHashes(),
        first.cacheTokens(),
        p,
        returnLogits);
  }

  Collector startDecode(
      String id, String tenant, int[] prompt, PrefillResult first, SamplingParams p) {
    Collector c = new Collector();
    decode.submit(decodeJob(id, tenant, prompt, first, p, true), c);
    return c;
  }

  Output run(String id, String tenant, int[] prompt, SamplingParams p) throws Exception {
    PrefillResult first = prefill(id, tenant, prompt, p, true);
    List<Integer> ids = new ArrayList<>(List.of(first.first().token().tokenId()));
    if (first.first().finished()) {
      kv.unpin(id);
      return new Output(first, new int[] {ids.get(0)}, List.of(), first.first().finishReason());
    }
    Collector c = startDecode(id, tenant, prompt, first, p);
    FinishReason reason = c.done.get(60, TimeUnit.SECONDS);
    settle();
    ids.addAll(c.ids);
    return new Output(first, ids.stream().mapToInt(Integer::intValue).toArray(), c.logits, reason);
  }

  /**
   * Waits until decode's calls to kv-cache-service have landed (write-backs, releases): they run
   * off its step thread, so a request is answered a little before its blocks are stored.
   */
  void settle() throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (decode.unsettledWork() > 0) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError(decode.unsettledWork() + " unsettled (joins, kv-cache calls)");
      }
      Thread.sleep(1);
    }
  }

  @Override
  public void close() throws Exception {
    prefill.close();
    decode.close();
    kv.close();
    server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    store.close();
    model.close();
  }
}
