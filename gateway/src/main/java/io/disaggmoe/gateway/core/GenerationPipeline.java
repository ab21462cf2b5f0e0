package io.disaggmoe.gateway.core;

import io.disaggmoe.proto.v1.CacheHandle;
import io.disaggmoe.proto.v1.DecodeRequest;
import io.disaggmoe.proto.v1.DecodeResponse;
import io.disaggmoe.proto.v1.FinishReason;
import io.disaggmoe.proto.v1.PrefillRequest;
import io.disaggmoe.proto.v1.PrefillResponse;
import io.disaggmoe.proto.v1.SampledToken;
import io.github.resilience4j.core.IntervalFunction;
import io.github.resilience4j.retry.Retry;
import io.github.resilience4j.retry.RetryConfig;
import io.opentelemetry.context.Scope;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledExecutorService;

/**
 * One choice through the split deployment, as DESIGN.md's "Data flow of one request" tells it:
 *
 * <ol>
 *   <li>A prefill instance computes the prompt (reusing cached blocks), writes its blocks to
 *       kv-cache-service and samples the first token. One that is down, full or too slow is retried
 *       on another with jittered exponential backoff; when none can take it, a decode instance
 *       computes the prompt itself.
 *   <li>A decode instance joins the request to its batch from the cache handle and streams the
 *       rest.
 *   <li>A decode instance that dies mid-stream is replaced: the request resumes on another from the
 *       blocks already in kv-cache-service plus every token already sent, so the client gets each
 *       token once.
 *   <li>Cancelling stops the call under way; decode frees the slot and pages at once.
 * </ol>
 */
public final class GenerationPipeline {
  private final StageRouter router;
  private final KvCacheStage kv;
  private final GatewayMetrics metrics;
  private final ScheduledExecutorService scheduler;
  private final Duration prefillTimeout;
  private final Duration decodeTimeout;
  private final int maxMigrations;

  /** Shared by every request: each execution keeps its own attempts. */
  private final Retry prefillRetry;

  public GenerationPipeline(
      StageRouter router,
      KvCacheStage kv,
      GatewayMetrics metrics,
      ScheduledExecutorService scheduler,
      Duration prefillTimeout,
      Duration decodeTimeout,
      int maxAttempts) {
    this.router = router;
    this.kv = kv;
    this.metrics = metrics;
    this.scheduler = scheduler;
    this.prefillTimeout = prefillTimeout;
    this.decodeTimeout = decodeTimeout;
    this.maxMigrations = maxAttempts;
    this.prefillRetry =
        Retry.of(
            "prefill",
            RetryConfig.custom()
                .maxAttempts(maxAttempts)
                .intervalFunction(IntervalFunction.ofExponentialRandomBackoff(50, 2.0, 0.5, 1000))
                .retryOnException(t -> StageException.of(t).retryable())
                .failAfterMaxAttempts(false)
                .build());
  }

  public Cancellable start(GenerationRequest request, GenerationListener listener) {
    Run run = new Run(request, listener);
    run.prefill();
    return run::cancel;
  }

  /** The state of one choice: tokens sent so far and the call under way. */
  private final class Run {
    final GenerationRequest request;
    final GenerationListener listener;
    final List<Integer> sent = new ArrayList<>();
    final Set<AttentionStage> failedDecodes = ConcurrentHashMap.newKeySet();
    private final Object calls = new Object();
    volatile boolean cancelled;
    volatile boolean finished;
    private Cancellable current = () -> {};
    CacheHandle handle = CacheHandle.getDefaultInstance();
    volatile AttentionStage prefilledBy;
    int migrations;

    Run(GenerationRequest request, GenerationListener listener) {
      this.request = request;
      this.listener = listener;
    }

    void cancel() {
      Cancellable c;
      synchronized (calls) {
        cancelled = true;
        c = current;
      }
      c.cancel();
      if (!finished) {
        kv.unpin(request.requestId());
      }
    }

    /**
     * Makes {@code call} the one under way; one started after the run was cancelled is cancelled at
     * once (a cancel can land between a stage's answer and the next call).
     */
    void track(Cancellable call) {
      synchronized (calls) {
        if (!cancelled) {
          current = call;
          return;
        }
      }
      call.cancel();
    }

    void prefill() {
      if (router.prefills().isEmpty() && request.promptLogprobs() < 0) {
        decode(); // a deployment without prefill instances: decode computes every prompt
        return;
      }
      Set<AttentionStage> tried = ConcurrentHashMap.newKeySet();
      PrefillRequest.Builder b =
          PrefillRequest.newBuilder()
              .setRequestId(request.requestId())
              .setTenant(request.tenant())
              .setSampling(request.sampling());
      for (int id : request.promptIds()) {
        b.addPromptIds(id);
      }
      if (request.promptLogprobs() >= 0) {
        b.setPromptLogprobs(request.promptLogprobs());
      }
      PrefillRequest r = b.build();
      prefillRetry
          .executeCompletionStage(scheduler, () -> attemptPrefill(r, tried))
          .whenComplete(
              (response, error) -> {
                if (cancelled) {
                  return;
                }
                if (error == null) {
                  prefilled(response);
                  return;
                }
                StageException e = StageException.of(error);
                // A decode instance can compute the prompt, but not score it.
                if (e.retryable() && !router.decodes().isEmpty() && request.promptLogprobs() < 0) {
                  // No prefill instance could take it: the decode instance computes the prompt.
                  metrics.migration("prefill_unavailable");
                  decode();
                } else {
                  fail(e.toApi());
                }
              });
    }

    CompletableFuture<PrefillResponse> attemptPrefill(PrefillRequest r, Set<AttentionStage> tried) {
      if (cancelled) {
        return CompletableFuture.failedFuture(
            new CancellationException("the request was cancelled"));
      }
      AttentionStage s = router.pickPrefill(request.promptIds(), tried);
      if (s == null) {
        return CompletableFuture.failedFuture(
            new StageException(
                StageException.Kind.UNAVAILABLE, "prefill", "no prefill instance left", null));
      }
      tried.add(s);
      CompletableFuture<PrefillResponse> f;
      try (Scope ignored = request.traceContext().makeCurrent()) {
        f = s.prefill(r, request.within(prefillTimeout));
      }
      track(() -> f.cancel(true));
      return f.whenComplete(
          (x, e) -> {
            router.prefillEnded(s, request.promptIds().length);
            if (e == null) {
              prefilledBy = s;
            }
          });
    }

    void prefilled(PrefillResponse r) {
      listener.onPrefillInstance(prefilledBy.address());
      listener.onPrefilled(r.getCachedTokens(), r.getPromptLogprobsList());
      handle = r.getCache();
      synchronized (sent) {
        sent.add(r.getFirstToken().getTokenId());
      }
      listener.onChunk(List.of(r.getFirstToken()), r.getText(), r.getFinishReason());
      if (r.getFinishReason() != FinishReason.FINISH_REASON_UNSPECIFIED) {
        kv.unpin(request.requestId());
        done();
      } else {
        decode();
      }
    }

    void decode() {
      if (cancelled) {
        return;
      }
      AttentionStage s = router.pickDecode(failedDecodes);
      if (s == null) {
        fail(ApiException.unavailable("no decode instance is available", 1));
        return;
      }
      DecodeRequest.Builder r =
          DecodeRequest.newBuilder()
              .setRequestId(request.requestId())
              .setTenant(request.tenant())
              .setCache(handle)
              .setSampling(request.sampling());
      for (int id : request.promptIds()) {
        r.addPromptIds(id);
      }
      synchronized (sent) {
        r.addAllGeneratedIds(sent);
      }
      try (Scope ignored = request.traceContext().makeCurrent()) {
        startDecode(s, r.build());
      }
    }

    void startDecode(AttentionStage s, DecodeRequest r) {
      listener.onDecodeInstance(s.address());
      track(
          s.decode(
              r,
              request.within(decodeTimeout),
              new DecodeObserver() {
                @Override
                public void onResponse(DecodeResponse response) {
                  synchronized (sent) {
                    for (SampledToken t : response.getTokensList()) {
                      sent.add(t.getTokenId());
                    }
                  }
                  if (!cancelled) {
                    listener.onChunk(
                        response.getTokensList(), response.getText(), response.getFinishReason());
                  }
                }

                @Override
                public void onCompleted() {
                  done();
                }

                @Override
                public void onError(StageException e) {
                  if (cancelled) {
                    return;
                  }
                  if (e.retryable() && migrations < maxMigrations) {
                    migrations++;
                    failedDecodes.add(s);
                    metrics.migration(
                        e.kind() == StageException.Kind.OVERLOADED
                            ? "decode_overloaded"
                            : "decode_failed");
                    decode();
                  } else {
                    fail(e.toApi());
                  }
                }
              }));
    }

    void done() {
      finished = true;
      if (!cancelled) {
        listener.onDone();
      }
    }

    void fail(ApiException e) {
      finished = true;
      kv.unpin(request.requestId());
      if (!cancelled) {
        listener.onError(e);
      }
    }
  }
}
