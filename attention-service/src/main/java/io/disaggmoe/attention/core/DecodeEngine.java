package io.disaggmoe.attention.core;

import io.disaggmoe.attention.client.KvCacheClient;
import io.disaggmoe.attention.client.LatentBlock;
import io.disaggmoe.model.LocalModel;
import io.disaggmoe.model.cache.LocalLatentCache;
import io.disaggmoe.model.sampling.Completion;
import io.disaggmoe.model.sampling.CompletionStep;
import java.lang.System.Logger.Level;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingDeque;
import java.util.concurrent.TimeUnit;

/**
 * The decode role: continuous batching over a local latent cache per sequence. Requests join the
 * running batch between steps (their blocks fetched from kv-cache-service, any uncached tokens
 * recomputed), every step runs the whole batch through all layers and samples each request with its
 * own parameters, full blocks are written back as they fill, and a request's slot and cache are
 * freed the step it finishes or is cancelled. Admission keeps the caches the running requests can
 * grow to within {@code kvBudgetBytes}.
 */
public final class DecodeEngine implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger(DecodeEngine.class.getName());

  private final LocalModel model;
  private final KvCacheClient kv;
  private final CompletionFactory completions;
  private final long kvBudgetBytes;
  private final int maxBatch;
  private final long bytesPerToken;
  private final LinkedBlockingDeque<Waiting> waiting = new LinkedBlockingDeque<>();
  private final Set<String> cancelled = ConcurrentHashMap.newKeySet();
  private final List<Sequence> running = new ArrayList<>();
  private final Thread worker;
  private volatile boolean closed;
  private volatile long reservedBytes;
  private volatile int runningCount;

  private record Waiting(DecodeJob job, DecodeListener listener) {}

  /** A running request: its cache holds {@code history[0 .. cache.length())}. */
  private static final class Sequence {
    final DecodeJob job;
    final DecodeListener listener;
    final LocalLatentCache cache;
    final Completion completion;
    final long reserved;
    int[] history;
    int historyLength;
    int storedBlocks;

    Sequence(
        DecodeJob job,
        DecodeListener listener,
        LocalLatentCache cache,
        Completion completion,
        long reserved,
        int storedBlocks) {
      this.job = job;
      this.listener = listener;
      this.cache = cache;
      this.completion = completion;
      this.reserved = reserved;
      this.storedBlocks = storedBlocks;
      int p = job.prompt().length;
      this.history = Arrays.copyOf(job.prompt(), p + job.generated().length + 16);
      System.arraycopy(job.generated(), 0, history, p, job.generated().length);
      this.historyLength = p + job.generated().length;
    }

    int next() {
      return history[historyLength - 1];
    }

    void append(int id) {
      if (historyLength == history.length) {
        history = Arrays.copyOf(history, 2 * historyLength);
      }
      history[historyLength++] = id;
    }
  }

  public DecodeEngine(
      LocalModel model,
      KvCacheClient kv,
      CompletionFactory completions,
      long kvBudgetBytes,
      int maxBatch) {
    if (maxBatch < 1) {
      throw new IllegalArgumentException("the decode batch must allow >= 1 request");
    }
    this.model = model;
    this.kv = kv;
    this.completions = completions;
    this.kvBudgetBytes = kvBudgetBytes;
    this.maxBatch = maxBatch;
    this.bytesPerToken = 4L * model.config().numHiddenLayers() * model.config().latentDim();
    this.worker = Thread.ofPlatform().name("decode").daemon().start(this::loop);
  }

  /** Queues the request; it joins the running batch at a step boundary when the budget allows. */
  public void submit(DecodeJob job, DecodeListener listener) {
    if (closed) {
      listener.onError(new IllegalStateException("the decode engine is closed"));
      return;
    }
    try {
      TokenIds.check(job.prompt(), "prompt_ids", model.config().vocabSize());
      TokenIds.check(job.generated(), "generated_ids", model.config().vocabSize());
    } catch (IllegalArgumentException e) {
      listener.onError(e);
      return;
    }
    long need = reservation(job);
    if (need > kvBudgetBytes) {
      listener.onError(
          new KvBudgetExceededException(
              "request "
                  + job.requestId()
                  + " needs "
                  + need
                  + " bytes of latent cache (prompt + max_tokens), more than this instance's KV"
                  + " budget of "
                  + kvBudgetBytes));
      return;
    }
    cancelled.remove(job.requestId());
    waiting.add(new Waiting(job, listener));
  }

  /** Frees the request's slot and cache at the next step boundary; nothing more is sent. */
  public void cancel(String requestId) {
    if (!waiting.removeIf(w -> w.job().requestId().equals(requestId))) {
      cancelled.add(requestId);
    }
  }

  public int runningRequests() {
    return runningCount;
  }

  public long freeKvBytes() {
    return kvBudgetBytes - reservedBytes;
  }

  private long reservation(DecodeJob job) {
    return bytesPerToken * (job.prompt().length + (long) job.params().maxTokens());
  }

  private void loop() {
    while (!closed) {
      try {
        dropCancelled();
        admit();
        if (running.isEmpty()) {
          Waiting w = waiting.poll(200, TimeUnit.MILLISECONDS);
          if (w != null) {
            waiting.addFirst(w);
          }
          continue;
        }
        step();
      } catch (InterruptedException e) {
        return;
      } catch (RuntimeException e) {
        LOG.log(Level.ERROR, "decode loop failure; failing the running batch", e);
        for (Sequence s : List.copyOf(running)) {
          release(s);
          s.listener.onError(e);
        }
      }
    }
  }

  private void dropCancelled() {
    if (cancelled.isEmpty()) {
      return;
    }
    for (Sequence s : List.copyOf(running)) {
      if (cancelled.remove(s.job.requestId())) {
        release(s);
      }
    }
  }

  private void admit() {
    while (running.size() < maxBatch) {
      Waiting w = waiting.peek();
      if (w == null || reservedBytes + reservation(w.job()) > kvBudgetBytes) {
        return;
      }
      waiting.poll();
      join(w);
    }
  }

  /** Loads the request's cache and recomputes what the cache service no longer had. */
  private void join(Waiting w) {
    DecodeJob job = w.job();
    LocalLatentCache cache = model.newCache();
    try {
      List<LatentBlock> blocks = kv.getLeading(job.blockHashes());
      for (LatentBlock b : blocks) {
        cache.appendRows(b.data(), b.tokens());
      }
      if (blocks.size() == job.blockHashes().size() && cache.length() < job.cacheTokens()) {
        LatentBlock tail = kv.getTail(job.requestId());
        if (tail != null && cache.length() + tail.tokens() == job.cacheTokens()) {
          cache.appendRows(tail.data(), tail.tokens());
        }
      }
      int[] history = concat(job.prompt(), job.generated());
      int upTo = history.length - 1;
      if (cache.length() < upTo) {
        int[] missing = Arrays.copyOfRange(history, cache.length(), upTo);
        synchronized (model) {
          model.forward(List.of(cache), List.of(missing), false);
        }
      }
      Completion completion = completions.start(job.params(), job.prompt(), job.generated());
      if (completion.finished()) {
        cache.close();
        kv.unpin(job.requestId());
        w.listener().onDone(completion.finishReason());
        return;
      }
      long reserved = reservation(job);
      Sequence s = new Sequence(job, w.listener(), cache, completion, reserved, blocks.size());
      running.add(s);
      reservedBytes += reserved;
      runningCount = running.size();
      writeBack(s);
    } catch (RuntimeException e) {
      cache.close();
      w.listener().onError(e);
    }
  }

  private void step() {
    List<LocalLatentCache> caches = new ArrayList<>(running.size());
    List<int[]> tokens = new ArrayList<>(running.size());
    for (Sequence s : running) {
      caches.add(s.cache);
      tokens.add(new int[] {s.next()});
    }
    List<float[]> logits;
    synchronized (model) {
      logits = model.forward(caches, tokens, false);
    }
    List<Sequence> batch = List.copyOf(running);
    for (int i = 0; i < batch.size(); i++) {
      Sequence s = batch.get(i);
      CompletionStep step = s.completion.step(logits.get(i));
      s.listener.onStep(step, s.job.returnLogits() ? logits.get(i) : null);
      writeBack(s);
      if (step.finished()) {
        release(s);
        s.listener.onDone(step.finishReason());
      } else {
        s.append(step.token().tokenId());
      }
    }
  }

  /**
   * Stores the cache's full blocks that kv-cache-service lacks, so a later turn reuses them and
   * another instance can take the request over. A failure here costs only reuse, not the request.
   */
  private void writeBack(Sequence s) {
    try {
      int length = s.cache.length();
      if (length / kv.blockTokens() <= s.storedBlocks) {
        return;
      }
      List<byte[]> hashes = kv.blockHashes(s.job.tenant(), Arrays.copyOf(s.history, length));
      int b = kv.blockTokens();
      int full = hashes.size();
      List<LatentBlock> blocks = new ArrayList<>();
      for (int i = s.storedBlocks; i < full; i++) {
        blocks.add(new LatentBlock(b, s.cache.exportRows(i * b, (i + 1) * b)));
      }
      kv.putBlocks(hashes.subList(s.storedBlocks, full), blocks);
      s.storedBlocks = full;
    } catch (RuntimeException e) {
      LOG.log(Level.WARNING, "could not write back blocks of " + s.job.requestId(), e);
    }
  }

  private void release(Sequence s) {
    running.remove(s);
    cancelled.remove(s.job.requestId());
    reservedBytes -= s.reserved;
    runningCount = running.size();
    s.cache.close();
    try {
      kv.unpin(s.job.requestId());
      kv.deleteTail(s.job.requestId());
    } catch (RuntimeException e) {
      LOG.log(Level.WARNING, "could not release the cache lease of " + s.job.requestId(), e);
    }
  }

  private static int[] concat(int[] a, int[] b) {
    int[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  @Override
  public void close() {
    closed = true;
    Workers.stop(worker);
    IllegalStateException gone = new IllegalStateException("the decode engine closed");
    for (Waiting w; (w = waiting.poll()) != null; ) {
      w.listener().onError(gone);
    }
    for (Sequence s : List.copyOf(running)) {
      release(s);
      s.listener.onError(gone);
    }
  }
}
