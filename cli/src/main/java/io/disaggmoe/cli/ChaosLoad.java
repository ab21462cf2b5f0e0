package io.disaggmoe.cli;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.MissingNode;

/**
 * The chaos suite's load: greedy streaming completions of a fixed set of prompts through the
 * gateways, sent with Poisson arrivals, each answer kept token by token (the completions API's
 * {@code logprobs} names every token) to be compared with an undisturbed run of the same prompt.
 *
 * <p>Requests go to the gateways in turn. A request whose connection fails, or whose stream ends
 * before {@code data: [DONE]}, is sent again from the start to the next gateway, as the OpenAI SDKs
 * retry connection errors; its tokens are then those of the attempt that finished. An answer with
 * an error status or an error event is not retried: that is the suite failing the request.
 */
final class ChaosLoad {
  private static final int ATTEMPTS = 4;
  private static final long RETRY_BACKOFF_MS = 250;

  private final List<String> urls;
  private final String model;
  private final String apiKey;
  private final int tokens;

  /**
   * One request: which prompt, its timing as {@code bench serve} keeps it (sent when the first
   * attempt was, chunks of the attempt that ended it), its tokens, how often it was sent again
   * after a connection failure, and the instances that served the attempt that ended it, as the
   * gateway names them in {@code nvext.worker_id} (the prefill instance, or null when a decode
   * instance computed the prompt; each decode instance in turn; both empty when the attempt got no
   * answer).
   */
  record Sent(
      int prompt,
      RequestTiming timing,
      List<String> tokens,
      int retries,
      String prefill,
      List<String> decodes) {
    long startNanos() {
      return timing.sentNanos();
    }

    long endNanos() {
      return timing.endNanos();
    }

    String error() {
      return timing.error();
    }
  }

  /**
   * What one attempt got, and when each of its token-bearing chunks came; {@code connectionLost}:
   * worth sending again to another gateway.
   */
  private record Attempt(
      List<String> tokens,
      long[] chunkNanos,
      String error,
      boolean connectionLost,
      JsonNode servedBy) {
    String prefill() {
      JsonNode p = servedBy.path("prefill_worker_id");
      return p.isString() ? p.asString() : null;
    }

    List<String> decodes() {
      List<String> out = new ArrayList<>();
      servedBy.path("decode_worker_ids").forEach(d -> out.add(d.asString()));
      return out;
    }
  }

  /** {@code apiKey}: sent as a bearer token; null: none. */
  ChaosLoad(List<String> urls, String model, String apiKey, int tokens) {
    this.urls = urls.stream().map(u -> u.replaceAll("/+$", "")).toList();
    this.model = model;
    this.apiKey = apiKey;
    this.tokens = tokens;
  }

  static String prompt(int i) {
    return "Chaos request " + i + " keeps telling its story about";
  }

  /** One request of prompt {@code i}, to its end, on gateway {@code i} first. */
  Sent send(int i) {
    long start = System.nanoTime();
    Attempt a = null;
    int attempt = 0;
    for (; attempt < ATTEMPTS; attempt++) {
      if (attempt > 0) {
        try {
          Thread.sleep(RETRY_BACKOFF_MS * attempt);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          break;
        }
      }
      a = attempt(urls.get((i + attempt) % urls.size()), i);
      if (!a.connectionLost()) {
        break;
      }
    }
    RequestTiming timing =
        new RequestTiming(start, a.chunkNanos(), System.nanoTime(), a.tokens().size(), a.error());
    return new Sent(
        i, timing, a.tokens(), Math.min(attempt, ATTEMPTS - 1), a.prefill(), a.decodes());
  }

  private Attempt attempt(String url, int i) {
    Map<String, Object> body = new LinkedHashMap<>();
    body.put("model", model);
    body.put("prompt", prompt(i));
    body.put("max_tokens", tokens);
    body.put("temperature", 0);
    body.put("ignore_eos", true);
    body.put("logprobs", 0);
    body.put("stream", true);
    // The gateway names the instances that served the request (NVIDIA Dynamo's extension).
    body.put("nvext", Map.of("extra_fields", List.of("worker_id")));
    List<String> got = new ArrayList<>();
    List<Long> chunks = new ArrayList<>();
    JsonNode[] servedBy = {MissingNode.getInstance()};
    try {
      String error =
          CompletionStream.completions(
              url,
              apiKey,
              body,
              Duration.ofMinutes(3),
              (event, now) -> {
                int before = got.size();
                for (JsonNode choice : event.path("choices")) {
                  choice.path("logprobs").path("tokens").forEach(t -> got.add(t.asString()));
                  if (choice.has("nvext")) {
                    servedBy[0] = choice.path("nvext").path("worker_id");
                  }
                }
                if (got.size() > before) {
                  chunks.add(now);
                }
              });
      return new Attempt(got, times(chunks), error, false, servedBy[0]);
    } catch (IOException e) {
      return new Attempt(got, times(chunks), e.toString(), true, servedBy[0]);
    } catch (Exception e) {
      return new Attempt(got, times(chunks), e.toString(), false, servedBy[0]);
    }
  }

  private static long[] times(List<Long> chunks) {
    return chunks.stream().mapToLong(Long::longValue).toArray();
  }

  /**
   * Sends requests of prompts {@code 0..prompts-1} in turn with Poisson arrivals at {@code rate}
   * per second, starts {@code fault} on its own thread after {@code faultAfter} seconds, keeps
   * sending until {@code seconds} have passed and the fault has run to its end, and returns every
   * request once all have ended.
   */
  List<Sent> run(int prompts, double rate, double seconds, double faultAfter, Runnable fault)
      throws InterruptedException {
    Random random = new Random(7);
    List<CompletableFuture<Sent>> sent = new ArrayList<>();
    long start = System.nanoTime();
    long end = start + (long) (seconds * 1e9);
    long faultAt = start + (long) (faultAfter * 1e9);
    CompletableFuture<Void> faulted = null;
    long next = start;
    int i = 0;
    while (true) {
      long now = System.nanoTime();
      if (faulted == null && now >= faultAt) {
        faulted = CompletableFuture.runAsync(fault, Thread::startVirtualThread);
        continue;
      }
      if (next >= end && faulted != null && faulted.isDone()) {
        break;
      }
      // Before the fault, nothing is sent past the end; after it, load goes on while it runs.
      long until = faulted != null ? next : next >= end ? faultAt : Math.min(next, faultAt);
      if (until > now) {
        TimeUnit.NANOSECONDS.sleep(Math.min(until - now, 100_000_000));
        continue;
      }
      if (faulted == null && next >= end) {
        continue;
      }
      int prompt = i++ % prompts;
      sent.add(CompletableFuture.supplyAsync(() -> send(prompt), Thread::startVirtualThread));
      next += (long) (-Math.log(1 - random.nextDouble()) / rate * 1e9);
    }
    faulted.join();
    List<Sent> all = new ArrayList<>();
    for (CompletableFuture<Sent> f : sent) {
      all.add(f.join());
    }
    return all;
  }
}
