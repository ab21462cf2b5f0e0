package io.disaggmoe.attention.core;

import io.disaggmoe.attention.client.KvCacheClient;
import io.disaggmoe.attention.client.LatentBlock;
import io.disaggmoe.model.LocalModel;
import io.disaggmoe.model.cache.PagedLatentCache;
import io.disaggmoe.model.sampling.CompletionStep;
import io.disaggmoe.model.sampling.SampledToken;
import io.disaggmoe.model.sampling.Sampler;
import io.disaggmoe.proto.errors.UnavailableException;
import io.disaggmoe.proto.telemetry.RecentLatency;
import io.opentelemetry.context.Context;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * The prefill role. Each request reuses the longest cached prefix from kv-cache-service, then the
 * remaining prompt tokens of all waiting requests are computed in chunks, at most {@code
 * tokenBudget} tokens per forward pass across requests. A finished prompt's new full blocks and its
 * tail go back to the cache, pinned for the decode instance, and its first token is sampled.
 */
public final class PrefillEngine implements AutoCloseable {
  private final LocalModel model;
  private final KvCacheClient kv;
  private final CompletionFactory completions;
  private final int tokenBudget;
  private final int maxQueuedTokens;
  private final Duration pinTtl;
  private volatile Throwable stopped;
  // Prompt tokens of every request from its acceptance until it leaves, in transit included.
  private final AtomicLong heldTokens = new AtomicLong();
  private volatile Consumer<Throwable> onStop = t -> {};
  private final LinkedBlockingQueue<Pending> queue = new LinkedBlockingQueue<>();
  private final List<Running> running = new ArrayList<>();
  private final Thread worker;
  private volatile boolean closed;

  private record Pending(
      PrefillJob job, CompletableFuture<PrefillResult> result, Context context) {}

  /** A request between its first and last chunk. */
  private static final class Running {
    final PrefillJob job;
    final CompletableFuture<PrefillResult> result;
    final PagedLatentCache cache;
    final KvCacheClient.Prefix prefix;
    final int cachedBlocks;
    final float[] logits;
    float[] last;
    Context context = Context.root();
    final List<SampledToken> promptLogprobs = new ArrayList<>();

    Running(
        PrefillJob job,
        CompletableFuture<PrefillResult> result,
        PagedLatentCache cache,
        KvCacheClient.Prefix prefix,
        int cachedBlocks,
        float[] logits) {
      this.job = job;
      this.result = result;
      this.cache = cache;
      this.prefix = prefix;
      this.cachedBlocks = cachedBlocks;
      this.logits = logits;
    }

    int cachedTokens() {
      return cachedBlocks * prefix.blockTokens();
    }

    int remaining() {
      return job.prompt().length - cache.length();
    }
  }

  /**
   * @param tokenBudget prompt tokens per forward pass, across requests
   * @param maxQueuedTokens prompt tokens queued and in progress at most; a prompt beyond is refused
   */
  private final RecentLatency timeToFirstToken =
      new RecentLatency(128, java.time.Duration.ofSeconds(30));

  public PrefillEngine(
      LocalModel model,
      KvCacheClient kv,
      CompletionFactory completions,
      int tokenBudget,
      int maxQueuedTokens,
      Duration pinTtl) {
    if (tokenBudget < 1) {
      throw new IllegalArgumentException(
          "the prefill token budget must be >= 1, got " + tokenBudget);
    }
    if (maxQueuedTokens < 1) {
      throw new IllegalArgumentException(
          "the prefill queue limit must be >= 1 token, got " + maxQueuedTokens);
    }
    this.maxQueuedTokens = maxQueuedTokens;
    this.model = model;
    this.kv = kv;
    this.completions = completions;
    this.tokenBudget = tokenBudget;
    this.pinTtl = pinTtl;
    this.worker = Thread.ofPlatform().name("prefill").daemon().start(this::loop);
  }

  /** Called once, from the engine's thread, if its loop stops on a failure it cannot contain. */
  public void onStop(Consumer<Throwable> listener) {
    this.onStop = listener;
  }

  /**
   * Queues the prompt. Cancelling the returned future stops the request at the next chunk boundary
   * (or before it starts) and releases its pins.
   *
   * <p>Fails at once with IllegalArgumentException for a prompt that is empty, longer than the
   * model's context or has ids outside the vocabulary; with {@link PrefillQueueFullException} when
   * it would take the queue past its token limit; with {@link EngineStoppedException} when the
   * engine no longer serves.
   */
  public CompletableFuture<PrefillResult> submit(PrefillJob job) {
    CompletableFuture<PrefillResult> f = new CompletableFuture<>();
    long arrived = System.nanoTime();
    f.thenRun(() -> timeToFirstToken.record(System.nanoTime() - arrived));
    int length = job.prompt().length;
    int context = model.config().maxPositionEmbeddings();
    try {
      if (length > context) {
        throw new IllegalArgumentException(
            "the prompt has " + length + " tokens; this model's context is " + context);
      }
      TokenIds.check(job.prompt(), "prompt_ids", model.config().vocabSize());
      // Sampling parameters this instance cannot honour fail now, before any block is written.
      completions.start(job.params(), job.prompt(), new int[0]);
    } catch (IllegalArgumentException e) {
      return CompletableFuture.failedFuture(e);
    }
    if (stopped != null) {
      return CompletableFuture.failedFuture(
          new EngineStoppedException("the prefill engine stopped: " + stopped, stopped));
    }
    if (closed) {
      return CompletableFuture.failedFuture(
          new UnavailableException("the prefill engine is closed"));
    }
    synchronized (heldTokens) {
      long held = heldTokens.get();
      if (held + length > maxQueuedTokens) {
        return CompletableFuture.failedFuture(
            new PrefillQueueFullException(
                "the prefill queue holds "
                    + held
                    + " prompt tokens; "
                    + length
                    + " more would pass its limit of "
                    + maxQueuedTokens));
      }
      heldTokens.addAndGet(length);
    }
    queue.add(new Pending(job, f, Context.current()));
    return f;
  }

  /** Time from arrival to first token of the latest prefills, as the scaling signals read it. */
  public RecentLatency timeToFirstToken() {
    return timeToFirstToken;
  }

  /** Requests whose prompt is not computed yet: queued, or part way through. */
  public int queuedRequests() {
    synchronized (running) {
      return queue.size() + running.size();
    }
  }

  /** Prompt tokens waiting to be computed, for the status report and routing. */
  public int queuedTokens() {
    int n = 0;
    for (Pending p : queue) {
      n += p.job().prompt().length;
    }
    synchronized (running) {
      for (Running r : running) {
        n += r.remaining();
      }
    }
    return n;
  }

  /**
   * Admits and computes until closed. A failure of one request (an Error included) fails that
   * request or its pass; anything else stops the engine, failing what it holds, rather than leaving
   * callers waiting on a dead thread.
   */
  private void loop() {
    try {
      while (!closed) {
        if (running.isEmpty()) {
          Pending p = queue.poll(200, TimeUnit.MILLISECONDS);
          if (p == null) {
            continue;
          }
          admit(p);
        }
        for (Pending p; (p = queue.poll()) != null; ) {
          admit(p);
        }
        dropCancelled();
        if (!running.isEmpty()) {
          step();
        }
      }
    } catch (InterruptedException e) {
      // Closed.
    } catch (Throwable t) {
      stop(t);
    }
  }

  private void stop(Throwable t) {
    stopped = t;
    EngineStoppedException e = new EngineStoppedException("the prefill engine stopped: " + t, t);
    for (Pending p; (p = queue.poll()) != null; ) {
      heldTokens.addAndGet(-p.job().prompt().length);
      p.result().completeExceptionally(e);
    }
    for (Running r : List.copyOf(running)) {
      r.result.completeExceptionally(e);
      remove(r);
    }
    onStop.accept(t);
  }

  /** Requests whose caller cancelled their future stop here, between two chunks. */
  private void dropCancelled() {
    for (Running r : List.copyOf(running)) {
      if (r.result.isCancelled()) {
        remove(r);
      }
    }
  }

  /** Finds and loads the request's cached prefix; it then waits for its chunks. */
  private void admit(Pending p) {
    if (p.result().isCancelled()) {
      heldTokens.addAndGet(-p.job().prompt().length);
      return;
    }
    PassTracing.within(p.context(), () -> load(p));
  }

  private void load(Pending p) {
    PrefillJob job = p.job();
    PagedLatentCache cache = null;
    try {
      KvCacheClient.Prefix prefix = kv.match(job.tenant(), job.prompt());
      int b = prefix.blockTokens();
      // The last prompt position is always computed: its logits give the first token.
      int usable =
          job.promptLogprobs() >= 0
              ? 0 // every position's logits are needed
              : Math.min(prefix.matchedBlocks(), (job.prompt().length - 1) / b);
      List<LatentBlock> blocks =
          usable == 0
              ? List.of()
              : KvHandoff.finitePrefix(kv.getLeading(prefix.hashes().subList(0, usable)));
      cache = model.newCache();
      for (LatentBlock block : blocks) {
        cache.appendRows(block.data(), block.tokens());
      }
      int vocab = model.config().vocabSize();
      int computed = job.prompt().length - cache.length();
      float[] logits = job.returnLogits() ? new float[Math.multiplyExact(computed, vocab)] : null;
      synchronized (running) {
        Running r = new Running(job, p.result(), cache, prefix, blocks.size(), logits);
        r.context = p.context();
        running.add(r);
      }
    } catch (RuntimeException | Error e) {
      // One request's failure, out of memory included, is that request's alone.
      if (cache != null) {
        cache.close();
      }
      heldTokens.addAndGet(-job.prompt().length);
      p.result().completeExceptionally(e);
    }
  }

  /** One forward pass over the next chunk of as many requests as the token budget allows. */
  private void step() {
    List<Running> batch = new ArrayList<>();
    List<PagedLatentCache> caches = new ArrayList<>();
    List<int[]> chunks = new ArrayList<>();
    int budget = tokenBudget;
    boolean allPositions = false;
    for (Running r : running) {
      if (budget == 0) {
        break;
      }
      int n = Math.min(r.remaining(), budget);
      int from = r.cache.length();
      int[] chunk = new int[n];
      System.arraycopy(r.job.prompt(), from, chunk, 0, n);
      batch.add(r);
      caches.add(r.cache);
      chunks.add(chunk);
      budget -= n;
      allPositions |= r.logits != null || r.job.promptLogprobs() >= 0;
    }
    int vocab = model.config().vocabSize();
    List<float[]> out;
    List<Integer> starts = batch.stream().map(r -> r.cache.length()).toList();
    boolean logitsOfAll = allPositions;
    try {
      out =
          PassTracing.pass(
              "prefill pass",
              batch.stream().map(r -> r.context).toList(),
              tokenBudget - budget,
              () -> {
                synchronized (model) {
                  return model.forward(caches, chunks, logitsOfAll);
                }
              });
    } catch (RuntimeException | Error e) {
      batch.forEach(r -> fail(r, e));
      return;
    }
    try {
      take(batch, out, chunks, starts, vocab);
    } catch (RuntimeException | Error e) {
      for (Running r : batch) {
        if (isRunning(r)) {
          fail(r, e);
        }
      }
    }
  }

  /** Keeps what the pass computed for each request, and finishes those whose prompt is done. */
  private void take(
      List<Running> batch, List<float[]> out, List<int[]> chunks, List<Integer> starts, int vocab) {
    for (int i = 0; i < batch.size(); i++) {
      Running r = batch.get(i);
      float[] logits = out.get(i);
      int n = chunks.get(i).length;
      if (r.logits != null) {
        int offset = (starts.get(i) - r.cachedTokens()) * vocab;
        System.arraycopy(logits, 0, r.logits, offset, n * vocab);
      }
      scorePrompt(r, logits, starts.get(i), n, vocab);
      r.last = new float[vocab];
      System.arraycopy(logits, logits.length - vocab, r.last, 0, vocab);
    }
    for (Running r : batch) {
      if (r.remaining() == 0) {
        finish(r);
      }
    }
  }

  /** Position p's logits score prompt token p + 1, with the request's alternatives. */
  private static void scorePrompt(Running r, float[] logits, int start, int n, int vocab) {
    int k = r.job.promptLogprobs();
    int[] prompt = r.job.prompt();
    for (int j = 0; k >= 0 && j < n && start + j + 1 < prompt.length; j++) {
      float[] row = Arrays.copyOfRange(logits, j * vocab, (j + 1) * vocab);
      r.promptLogprobs.add(Sampler.scored(prompt[start + j + 1], row, k));
    }
  }

  private void finish(Running r) {
    PassTracing.within(r.context, () -> store(r));
  }

  /** Writes the prompt's new blocks and tail, pins them for decode, and samples the first token. */
  private void store(Running r) {
    try {
      PrefillJob job = r.job;
      int p = job.prompt().length;
      int full = p / r.prefix.blockTokens();
      List<byte[]> hashes = r.prefix.hashes().subList(0, full);
      KvHandoff.publish(
          kv,
          job.tenant(),
          job.requestId(),
          hashes,
          r.cachedBlocks,
          p,
          r.cache::exportRows,
          pinTtl);
      CompletionStep first = completions.start(job.params(), job.prompt(), new int[0]).step(r.last);
      PrefillResult result =
          new PrefillResult(
              first,
              List.copyOf(hashes),
              p,
              r.cachedTokens(),
              p - r.cachedTokens(),
              r.logits,
              List.copyOf(r.promptLogprobs));
      // Out of the queue before the caller hears: its tokens no longer count against the limit.
      remove(r);
      if (!r.result.complete(result)) {
        // Cancelled while its blocks were written: no decode instance will come for them.
        kv.unpin(job.requestId());
      }
    } catch (RuntimeException | Error e) {
      if (isRunning(r)) {
        remove(r);
      }
      r.result.completeExceptionally(e);
    }
  }

  private void fail(Running r, Throwable e) {
    r.result.completeExceptionally(e);
    remove(r);
  }

  private boolean isRunning(Running r) {
    synchronized (running) {
      return running.contains(r);
    }
  }

  private void remove(Running r) {
    synchronized (running) {
      running.remove(r);
    }
    heldTokens.addAndGet(-r.job.prompt().length);
    r.cache.close();
  }

  @Override
  public void close() {
    closed = true;
    Workers.stop(worker);
    UnavailableException gone = new UnavailableException("the prefill engine closed");
    for (Pending p; (p = queue.poll()) != null; ) {
      p.result().completeExceptionally(gone);
    }
    synchronized (running) {
      for (Running r : List.copyOf(running)) {
        fail(r, gone);
      }
    }
  }
}
