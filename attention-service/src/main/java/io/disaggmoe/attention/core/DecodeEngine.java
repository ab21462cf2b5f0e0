package io.disaggmoe.attention.core;

import io.disaggmoe.attention.client.KvCacheClient;
import io.disaggmoe.attention.client.LatentBlock;
import io.disaggmoe.model.LocalModel;
import io.disaggmoe.model.cache.LatentPagePool;
import io.disaggmoe.model.cache.PagedLatentCache;
import io.disaggmoe.model.sampling.Completion;
import io.disaggmoe.model.sampling.CompletionStep;
import io.disaggmoe.proto.errors.UnavailableException;
import io.disaggmoe.proto.telemetry.RecentLatency;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.Scope;
import java.lang.System.Logger.Level;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingDeque;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

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
 *
 * <p>The step thread never waits on kv-cache-service. A request's life, by thread:
 *
 * <ol>
 *   <li>{@code submit} (caller): checked and queued.
 *   <li>admission (step thread): its pages are reserved and its blocks are fetched on a thread of
 *       its own; the batch steps on meanwhile.
 *   <li>joining (step thread, between steps): once its blocks have arrived they are copied into
 *       pages, any uncached tokens recomputed, and it steps with the batch.
 *   <li>each step (step thread): full blocks are copied out of the pages and written back on
 *       another thread, each request's in order.
 *   <li>release (step thread): its pages are freed at once; the cache lease and tail are dropped on
 *       another thread.
 * </ol>
 *
 * A slow or dead kv-cache-service thus delays only requests waiting for their blocks.
 */
public final class DecodeEngine implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger(DecodeEngine.class.getName());

  private final LocalModel model;
  private final KvCacheClient kv;
  private final CompletionFactory completions;
  private final LatentPagePool pages;
  private final int maxBatch;
  private final LinkedBlockingDeque<Waiting> waiting = new LinkedBlockingDeque<>();
  private final RecentLatency timePerToken =
      new RecentLatency(128, java.time.Duration.ofSeconds(30));
  private final ConcurrentLinkedQueue<Fetched> arrived = new ConcurrentLinkedQueue<>();
  // Every call to kv-cache-service: blocking calls, each on a virtual thread of its own, so one
  // that hangs holds no other.
  private final ExecutorService kvCalls = Executors.newVirtualThreadPerTaskExecutor();
  private final Set<String> cancelled = ConcurrentHashMap.newKeySet();
  private final List<Sequence> running = new ArrayList<>();
  private final AtomicLong fetchedTokens = new AtomicLong();
  private final AtomicLong recomputedTokens = new AtomicLong();
  private final AtomicInteger unsettled = new AtomicInteger();
  private final Thread worker;
  private volatile boolean closed;
  private volatile int reservedPages;
  private volatile int runningCount;
  // Admitted requests whose blocks are being fetched (step thread only).
  private int joining;

  private record Waiting(DecodeJob job, DecodeListener listener, Context context) {}

  /** A joining request's blocks as fetched, or why they could not be. */
  private record Fetched(
      Waiting waiting,
      int reserved,
      int[] history,
      List<byte[]> hashes,
      KvHandoff.Held held,
      Throwable failure) {}

  /** A running request: its cache holds {@code history[0 .. cache.length())}. */
  private static final class Sequence {
    final DecodeJob job;
    final DecodeListener listener;
    final PagedLatentCache cache;
    final Completion completion;
    final int reservedPages;
    int[] history;
    int historyLength;
    // Full blocks copied out for kv-cache-service, and the chain hash of the last of them.
    int storedBlocks;
    byte[] lastStoredHash;
    // This request's write-backs, in order: each starts when the one before has ended.
    CompletableFuture<Void> writes = CompletableFuture.completedFuture(null);
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
      listener.onError(new UnavailableException("the decode engine is closed"));
      return;
    }
    try {
      TokenIds.check(job.prompt(), "prompt_ids", model.config().vocabSize());
      TokenIds.check(job.generated(), "generated_ids", model.config().vocabSize());
    } catch (IllegalArgumentException e) {
      listener.onError(e);
      return;
    }
    // The generated ids are the first of max_tokens (Completion counts them so), not more.
    int maxTokens = job.params().maxTokens();
    if (job.generated().length > maxTokens) {
      listener.onError(
          new IllegalArgumentException(
              "generated_ids has "
                  + job.generated().length
                  + " tokens, more than max_tokens "
                  + maxTokens));
      return;
    }
    long length = (long) job.prompt().length + maxTokens;
    int context = model.config().maxPositionEmbeddings();
    if (length > context) {
      listener.onError(
          new IllegalArgumentException(
              "prompt and max_tokens make "
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
    LockSupport.unpark(worker);
  }

  /** Frees the request's slot and pages at the next step boundary; nothing more is sent. */
  public void cancel(String requestId) {
    for (Waiting w : waiting) {
      if (w.job().requestId().equals(requestId) && waiting.remove(w)) {
        // Its prefill's lease and tail are this instance's to drop, as if it had run.
        unpinLater(w.job().tenant(), requestId, w.context());
        return;
      }
    }
    cancelled.add(requestId);
  }

  public int runningRequests() {
    return runningCount;
  }

  /** Requests admitted and waiting to join the running batch. */
  public int waitingRequests() {
    return waiting.size();
  }

  /** Duration of the latest decode steps: each running request's time per output token. */
  public RecentLatency timePerToken() {
    return timePerToken;
  }

  /** The share of the KV budget's pages in use, 0..1. */
  public double kvUsedFraction() {
    return pages.maxPages() == 0 ? 0 : (double) pages.usedPages() / pages.maxPages();
  }

  /** The KV budget as whole pages. */
  public long kvCapacityBytes() {
    return pages.maxPages() * pages.pageBytes();
  }

  /** Bytes of pages no admitted request can claim. */
  public long freeKvBytes() {
    return (pages.maxPages() - reservedPages) * pages.pageBytes();
  }

  /**
   * Bytes of latent-cache pages in memory, in use or kept for reuse: the most pages ever out at
   * once, up to the capacity.
   */
  public long kvHeldBytes() {
    return pages.heldPages() * pages.pageBytes();
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

  /**
   * Work begun off the step thread and not yet settled: admitted requests from their block fetch
   * until they have joined or failed, and write-backs and lease releases to kv-cache-service not
   * yet answered. At 0 with no request running, every lease the engine took is released.
   */
  public int unsettledWork() {
    return unsettled.get();
  }

  private int reservation(DecodeJob job) {
    return pages.pagesFor(job.prompt().length + (long) job.params().maxTokens());
  }

  private void loop() {
    while (!closed) {
      try {
        joinArrived();
        dropCancelled();
        admit();
        if (running.isEmpty()) {
          // Woken by a new request or arriving blocks.
          LockSupport.parkNanos(this, TimeUnit.MILLISECONDS.toNanos(200));
          continue;
        }
        step();
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

  /** Reserves pages for waiting requests that fit and starts fetching their blocks. */
  private void admit() {
    while (running.size() + joining < maxBatch) {
      Waiting w = waiting.peek();
      int reserved = w == null ? 0 : reservation(w.job());
      if (w == null || reservedPages + reserved > pages.maxPages()) {
        return;
      }
      if (!waiting.removeFirstOccurrence(w)) {
        // Cancelled since the peek: the next head is looked at afresh.
        continue;
      }
      reservedPages += reserved;
      joining++;
      // Unsettled until the request has joined or failed (joinArrived, failArrived): a cancelled
      // request's lease is released only at its join.
      unsettled.incrementAndGet();
      kvCalls.execute(
          () -> {
            arrived.add(PassTracing.within(w.context(), () -> fetch(w, reserved)));
            if (closed) {
              failArrived();
            } else {
              LockSupport.unpark(worker);
            }
          });
    }
  }

  /**
   * The request's stored full blocks (from its prefill or from an instance that decoded it before)
   * and the prefill's tail when it still fits; runs off the step thread.
   */
  private Fetched fetch(Waiting w, int reserved) {
    DecodeJob job = w.job();
    try {
      int[] history = concat(job.prompt(), job.generated());
      List<byte[]> hashes =
          kv.blockHashes(job.tenant(), new byte[0], history, 0, history.length - 1);
      checkHandle(job, hashes);
      KvHandoff.Held held =
          KvHandoff.fetch(kv, job.tenant(), job.requestId(), hashes, job.cacheTokens());
      return new Fetched(w, reserved, history, hashes, held, null);
    } catch (RuntimeException | Error e) {
      return new Fetched(w, reserved, null, null, null, e);
    }
  }

  /**
   * Computes the rows of {@code history[cache.length() .. upTo)} that no block held, with the bits
   * the instance that died had for them, so the tokens after them are the ones it would have
   * sampled: in one pass where the model's passes give a row the same bits in any pass (absorbed
   * attention on the float kernels); else (naive attention on libtorch) the prompt's in one pass,
   * as a prefill computes them, and the generated tokens' one position per pass, as the decode
   * steps that made them did.
   */
  private void recompute(PagedLatentCache cache, int[] history, int promptLength, int upTo) {
    int promptEnd = Math.min(promptLength, upTo);
    synchronized (model) {
      if (cache.length() < upTo && model.rowsIndependentOfPass(upTo - cache.length())) {
        model.forward(
            List.of(cache), List.of(Arrays.copyOfRange(history, cache.length(), upTo)), false);
        return;
      }
      if (cache.length() < promptEnd) {
        model.forward(
            List.of(cache), List.of(Arrays.copyOfRange(history, cache.length(), promptEnd)), false);
      }
      for (int p = cache.length(); p < upTo; p++) {
        model.forward(List.of(cache), List.of(new int[] {history[p]}), false);
      }
    }
  }

  /** Joins every request whose blocks have arrived, or fails it. */
  private void joinArrived() {
    for (Fetched f; (f = arrived.poll()) != null; ) {
      joining--;
      Fetched fetched = f;
      try {
        PassTracing.within(f.waiting().context(), () -> join(fetched));
      } finally {
        unsettled.decrementAndGet();
      }
    }
  }

  /** Copies the fetched blocks into pages, recomputes the rest, and adds the request. */
  private void join(Fetched f) {
    Waiting w = f.waiting();
    DecodeJob job = w.job();
    if (cancelled.remove(job.requestId())) {
      reservedPages -= f.reserved();
      unpinLater(job.tenant(), job.requestId(), w.context());
      return;
    }
    if (f.failure() != null) {
      reservedPages -= f.reserved();
      w.listener().onError(asRuntime(f.failure()));
      return;
    }
    PagedLatentCache cache = new PagedLatentCache(pages);
    try {
      int[] history = f.history();
      int upTo = history.length - 1;
      List<byte[]> hashes = f.hashes();
      KvHandoff.Held held = f.held();
      for (LatentBlock b : held.all()) {
        cache.appendRows(b.data(), b.tokens());
      }
      fetchedTokens.addAndGet(cache.length());
      if (cache.length() < upTo) {
        recomputedTokens.addAndGet(upTo - cache.length());
        recompute(cache, history, job.prompt().length, upTo);
      }
      Completion completion = completions.start(job.params(), job.prompt(), job.generated());
      if (completion.finished()) {
        cache.close();
        reservedPages -= f.reserved();
        unpinLater(job.tenant(), job.requestId(), w.context());
        w.listener().onDone(completion.finishReason());
        return;
      }
      int reserved = f.reserved();
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
      runningCount = running.size();
      writeBack(s);
    } catch (RuntimeException | Error e) {
      cache.close();
      reservedPages -= f.reserved();
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
    long began = System.nanoTime();
    try {
      runStep();
    } finally {
      timePerToken.record(System.nanoTime() - began);
    }
  }

  private void runStep() {
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
   * another instance can take the request over. The blocks are copied out of the pages here and
   * sent on another thread after the request's earlier ones, so a slow service holds copies of at
   * most the request's own cache. A failure costs only reuse, not the request.
   */
  private void writeBack(Sequence s) {
    int b = pages.pageTokens();
    int full = s.cache.length() / b;
    int from = s.storedBlocks;
    if (full <= from) {
      return;
    }
    List<byte[]> hashes =
        kv.blockHashes(s.job.tenant(), s.lastStoredHash, s.history, from * b, full * b);
    List<LatentBlock> blocks = new ArrayList<>();
    for (int i = from; i < full; i++) {
      blocks.add(new LatentBlock(b, s.cache.exportRows(i * b, (i + 1) * b)));
    }
    s.storedBlocks = full;
    s.lastStoredHash = hashes.getLast();
    s.writes =
        s.writes.thenRunAsync(
            counted(
                () -> {
                  try (Scope ignored = s.context.makeCurrent()) {
                    kv.putBlocks(hashes, blocks);
                  } catch (RuntimeException e) {
                    LOG.log(
                        Level.WARNING, "could not write back blocks of " + s.job.requestId(), e);
                  }
                }),
            kvCalls);
  }

  private void release(Sequence s) {
    running.remove(s);
    cancelled.remove(s.job.requestId());
    s.cache.close();
    reservedPages -= s.reservedPages;
    // Last: a reader that sees the request gone sees its pages free (a clean run read between).
    runningCount = running.size();
    unpinLater(s.job.tenant(), s.job.requestId(), s.context);
  }

  /** Drops the request's cache lease and tail, on another thread. */
  private void unpinLater(String tenant, String requestId, Context context) {
    Runnable release =
        counted(
            () -> {
              try (Scope ignored = context.makeCurrent()) {
                kv.unpin(requestId);
                kv.deleteTail(tenant, requestId);
              } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "could not release the cache lease of " + requestId, e);
              }
            });
    try {
      kvCalls.execute(release);
    } catch (RejectedExecutionException e) {
      // Closed: the lease lapses at its TTL.
      unsettled.decrementAndGet();
    }
  }

  /** {@code call}, counted as {@link #unsettledWork} from now until it has run. */
  private Runnable counted(Runnable call) {
    unsettled.incrementAndGet();
    return () -> {
      try {
        call.run();
      } finally {
        unsettled.decrementAndGet();
      }
    };
  }

  /** After close: requests whose blocks arrive fail, and their leases are dropped. */
  private void failArrived() {
    UnavailableException gone = new UnavailableException("the decode engine closed");
    for (Fetched f; (f = arrived.poll()) != null; ) {
      unpinLater(f.waiting().job().tenant(), f.waiting().job().requestId(), f.waiting().context());
      unsettled.decrementAndGet();
      f.waiting().listener().onError(gone);
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
    UnavailableException gone = new UnavailableException("the decode engine closed");
    for (Waiting w; (w = waiting.poll()) != null; ) {
      w.listener().onError(gone);
    }
    for (Sequence s : List.copyOf(running)) {
      release(s);
      s.listener.onError(gone);
    }
    failArrived();
    kvCalls.shutdown();
    try {
      // Leases and write-backs in flight finish, unless kv-cache-service hangs.
      kvCalls.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    pages.close();
  }
}
