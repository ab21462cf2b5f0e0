package io.disaggmoe.attention.core;

import io.disaggmoe.attention.client.KvCacheClient;
import io.disaggmoe.attention.client.LatentBlock;
import io.disaggmoe.model.LocalModel;
import io.disaggmoe.model.cache.LatentPagePool;
import io.disaggmoe.model.cache.PagedLatentCache;
import io.disaggmoe.model.sampling.Completion;
import io.disaggmoe.model.sampling.CompletionStep;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.Scope;
import java.lang.System.Logger.Level;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingDeque;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The decode role: continuous batching over paged latent caches. Requests join the running batch
 * between steps (their blocks fetched from kv-cache-service into pages, any uncached tokens
 * recomputed), every step runs the whole batch through all layers and samples each request with its
 * own parameters, full blocks are written back as they fill, and a request's slot and pages are
 * freed the step it finishes or is cancelled.
 *
 * <p>Pages are as long as a kv-cache block, so a filled page is written back as one block. The KV
 * budget is a number of pages; a request is admitted when the pages it can grow to (prompt +
 * max_tokens) fit beside those the running requests can grow to, so a step never runs out of pages
 * and nothing has to be preempted.
 *
 * <p>A request may arrive with tokens already generated elsewhere (another instance that died or
 * was drained): joining looks up every full block of its history, so it resumes from the blocks
 * that instance wrote back and recomputes only what was never stored.
 */
public final class DecodeEngine implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger(DecodeEngine.class.getName());

  private final LocalModel model;
  private final KvCacheClient kv;
  private final CompletionFactory completions;
  private final LatentPagePool pages;
  private final int maxBatch;
  private final LinkedBlockingDeque<Waiting> waiting = new LinkedBlockingDeque<>();
  private final Set<String> cancelled = ConcurrentHashMap.newKeySet();
  private final List<Sequence> running = new ArrayList<>();
  private final AtomicLong fetchedTokens = new AtomicLong();
  private final AtomicLong recomputedTokens = new AtomicLong();
  private final Thread worker;
  private volatile boolean closed;
  private volatile int reservedPages;
  private volatile int runningCount;

  private record Waiting(DecodeJob job, DecodeListener listener, Context context) {}

  /** A running request: its cache holds {@code history[0 .. cache.length())}. */
  private static final class Sequence {
    final DecodeJob job;
    final DecodeListener listener;
    final PagedLatentCache cache;
    final Completion completion;
    final int reservedPages;
    int[] history;
    int historyLength;
    int storedBlocks;
    byte[] lastStoredHash;
    Context context = Context.root();

    Sequence(
        DecodeJob job,
        DecodeListener listener,
        PagedLatentCache cache,
        Completion completion,
        int reservedPages,
        int[] history,
        List<byte[]> storedHashes) {
      this.job = job;
      this.listener = listener;
      this.cache = cache;
      this.completion = completion;
      this.reservedPages = reservedPages;
      this.history = Arrays.copyOf(history, history.length + 16);
      this.historyLength = history.length;
      this.storedBlocks = storedHashes.size();
      this.lastStoredHash = storedHashes.isEmpty() ? new byte[0] : storedHashes.getLast();
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
    this.pages = model.newPagePool(kv.blockTokens(), kvBudgetBytes);
    this.maxBatch = maxBatch;
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
    long length = (long) job.prompt().length + job.generated().length + job.params().maxTokens();
    int context = model.config().maxPositionEmbeddings();
    if (length > context) {
      listener.onError(
          new IllegalArgumentException(
              "prompt, generated and max_tokens make "
                  + length
                  + " tokens; this model's context is "
                  + context));
      return;
    }
    int need = reservation(job);
    if (need > pages.maxPages()) {
      listener.onError(
          new KvBudgetExceededException(
              "request "
                  + job.requestId()
                  + " needs "
                  + need
                  + " latent-cache pages of "
                  + pages.pageTokens()
                  + " tokens (prompt + max_tokens), more than this instance's KV budget of "
                  + pages.maxPages()
                  + " pages ("
                  + kvCapacityBytes()
                  + " bytes)"));
      return;
    }
    cancelled.remove(job.requestId());
    waiting.add(new Waiting(job, listener, Context.current()));
  }

  /** Frees the request's slot and pages at the next step boundary; nothing more is sent. */
  public void cancel(String requestId) {
    if (!waiting.removeIf(w -> w.job().requestId().equals(requestId))) {
      cancelled.add(requestId);
    }
  }

  public int runningRequests() {
    return runningCount;
  }

  /** The KV budget as whole pages. */
  public long kvCapacityBytes() {
    return pages.maxPages() * pages.pageBytes();
  }

  /** Bytes of pages no admitted request can claim. */
  public long freeKvBytes() {
    return (pages.maxPages() - reservedPages) * pages.pageBytes();
  }

  /** Pages the running requests hold now (at most what they reserved). */
  public int usedPages() {
    return pages.usedPages();
  }

  /** Cache positions loaded from kv-cache-service when requests joined, in all. */
  public long fetchedTokens() {
    return fetchedTokens.get();
  }

  /** Cache positions computed again when requests joined because no stored block held them. */
  public long recomputedTokens() {
    return recomputedTokens.get();
  }

  private int reservation(DecodeJob job) {
    return pages.pagesFor(job.prompt().length + (long) job.params().maxTokens());
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
      } catch (RuntimeException | Error e) {
        // Out of memory included: the batch fails, the loop and the requests still waiting go on.
        LOG.log(Level.ERROR, "decode loop failure; failing the running batch", e);
        for (Sequence s : List.copyOf(running)) {
          release(s);
          s.listener.onError(asRuntime(e));
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
      if (w == null || reservedPages + reservation(w.job()) > pages.maxPages()) {
        return;
      }
      waiting.poll();
      join(w);
    }
  }

  /**
   * Loads the request's cache: the stored full blocks of its history (from its prefill or from an
   * instance that decoded it before), the prefill's tail when it still fits, then recomputes the
   * rest.
   */
  private void join(Waiting w) {
    PassTracing.within(w.context(), () -> load(w));
  }

  private void load(Waiting w) {
    DecodeJob job = w.job();
    PagedLatentCache cache = new PagedLatentCache(pages);
    try {
      int[] history = concat(job.prompt(), job.generated());
      int upTo = history.length - 1;
      List<byte[]> hashes = kv.blockHashes(job.tenant(), new byte[0], history, 0, upTo);
      checkHandle(job, hashes);
      KvHandoff.Held held = KvHandoff.fetch(kv, job.requestId(), hashes, job.cacheTokens());
      for (LatentBlock b : held.all()) {
        cache.appendRows(b.data(), b.tokens());
      }
      fetchedTokens.addAndGet(cache.length());
      if (cache.length() < upTo) {
        recomputedTokens.addAndGet(upTo - cache.length());
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
      int reserved = reservation(job);
      Sequence s =
          new Sequence(
              job,
              w.listener(),
              cache,
              completion,
              reserved,
              history,
              hashes.subList(0, held.leading().size()));
      s.context = w.context();
      running.add(s);
      reservedPages += reserved;
      runningCount = running.size();
      writeBack(s);
    } catch (RuntimeException | Error e) {
      cache.close();
      w.listener().onError(asRuntime(e));
    }
  }

  /** The handle's block hashes, when given, must name the same blocks this history does. */
  private static void checkHandle(DecodeJob job, List<byte[]> hashes) {
    List<byte[]> given = job.blockHashes();
    for (int i = 0; i < given.size(); i++) {
      if (i >= hashes.size() || !Arrays.equals(given.get(i), hashes.get(i))) {
        throw new IllegalArgumentException(
            "cache block_hashes["
                + i
                + "] is not the chain hash of prompt_ids under tenant '"
                + job.tenant()
                + "' for this model; the handle belongs to another prompt, tenant or model");
      }
    }
  }

  private void step() {
    List<PagedLatentCache> caches = new ArrayList<>(running.size());
    List<int[]> tokens = new ArrayList<>(running.size());
    for (Sequence s : running) {
      caches.add(s.cache);
      tokens.add(new int[] {s.next()});
    }
    List<float[]> logits =
        PassTracing.pass(
            "decode step",
            running.stream().map(s -> s.context).toList(),
            running.size(),
            () -> {
              synchronized (model) {
                return model.forward(caches, tokens, false);
              }
            });
    List<Sequence> batch = List.copyOf(running);
    for (int i = 0; i < batch.size(); i++) {
      Sequence s = batch.get(i);
      CompletionStep step;
      try {
        // Sampling refuses logits that are not finite; a listener may throw: either way the
        // failure is this sequence's alone, and the rest of the batch goes on.
        step = s.completion.step(logits.get(i));
        s.listener.onStep(step, s.job.returnLogits() ? logits.get(i) : null);
      } catch (RuntimeException e) {
        LOG.log(Level.WARNING, "request " + s.job.requestId() + " failed in its step", e);
        release(s);
        s.listener.onError(e);
        continue;
      }
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
    PassTracing.within(s.context, () -> storeFullBlocks(s));
  }

  private void storeFullBlocks(Sequence s) {
    try {
      int b = pages.pageTokens();
      int full = s.cache.length() / b;
      if (full <= s.storedBlocks) {
        return;
      }
      List<byte[]> hashes =
          kv.blockHashes(s.job.tenant(), s.lastStoredHash, s.history, s.storedBlocks * b, full * b);
      List<LatentBlock> blocks = new ArrayList<>();
      for (int i = s.storedBlocks; i < full; i++) {
        blocks.add(new LatentBlock(b, s.cache.exportRows(i * b, (i + 1) * b)));
      }
      kv.putBlocks(hashes, blocks);
      s.storedBlocks = full;
      s.lastStoredHash = hashes.getLast();
    } catch (RuntimeException e) {
      LOG.log(Level.WARNING, "could not write back blocks of " + s.job.requestId(), e);
    }
  }

  private void release(Sequence s) {
    running.remove(s);
    cancelled.remove(s.job.requestId());
    reservedPages -= s.reservedPages;
    runningCount = running.size();
    s.cache.close();
    try (Scope ignored = s.context.makeCurrent()) {
      kv.unpin(s.job.requestId());
      kv.deleteTail(s.job.requestId());
    } catch (RuntimeException e) {
      LOG.log(Level.WARNING, "could not release the cache lease of " + s.job.requestId(), e);
    }
  }

  /** An Error as the exception a listener takes; its status comes from the Error it wraps. */
  private static RuntimeException asRuntime(Throwable e) {
    return e instanceof RuntimeException r ? r : new CompletionException(e);
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
    pages.close();
  }
}
