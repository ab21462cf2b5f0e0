package io.disaggmoe.attention.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.disaggmoe.attention.client.KvCacheClient;
import io.disaggmoe.model.sampling.FinishReason;
import io.disaggmoe.model.testing.GoldenCase;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * The prefill and decode roles refuse what they cannot serve before queueing it, and a failure of
 * one request, an Error included, fails that request alone.
 */
class RoleAdmissionTest {
  private static final GoldenCase GOLDEN = GoldenCase.named("v3-tiny");

  private static PrefillJob job(String id, String tenant, int[] prompt) {
    return new PrefillJob(id, tenant, prompt, SplitStack.greedy(4), false);
  }

  private static int[] prompt(int length) {
    int[] p = new int[length];
    Arrays.setAll(p, i -> 3 + i % 50);
    return p;
  }

  @Test
  void aPromptLongerThanTheContextIsRefusedNamingTheLimit() throws Exception {
    try (SplitStack s = new SplitStack(GOLDEN.dir(), 1 << 24, 4, 1 << 24, 512)) {
      int context = s.model.config().maxPositionEmbeddings();
      CompletableFuture<PrefillResult> f = s.prefill.submit(job("long", "t", prompt(context + 1)));
      assertThatThrownBy(f::get)
          .isInstanceOf(ExecutionException.class)
          .cause()
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("context is " + context);
      assertThat(s.prefill.queuedTokens()).isZero();
    }
  }

  @Test
  void aPromptPastTheQueueLimitIsRefusedAndTheQueueGoesOn() throws Exception {
    try (SplitStack s = new SplitStack(GOLDEN.dir(), 1 << 24, 4, 1 << 24, 1)) {
      try (PrefillEngine small =
          new PrefillEngine(
              s.model,
              s.kv,
              new CompletionFactory(null, s.model.config()),
              1,
              50,
              Duration.ofMinutes(5))) {
        // One token per pass: the first prompt is still in the queue when the second arrives.
        CompletableFuture<PrefillResult> first = small.submit(job("a", "t", prompt(40)));
        CompletableFuture<PrefillResult> second = small.submit(job("b", "t", prompt(20)));
        assertThatThrownBy(second::get)
            .cause()
            .isInstanceOf(PrefillQueueFullException.class)
            .hasMessageContaining("limit of 50");
        assertThat(first.get(60, TimeUnit.SECONDS).cacheTokens()).isEqualTo(40);
        // Its tokens are counted out again: the queue takes a prompt of its whole limit.
        small.submit(job("c", "t", prompt(50))).get(60, TimeUnit.SECONDS);
        s.kv.unpin("c");
        s.kv.unpin("a");
      }
    }
  }

  @Test
  void anErrorInOneRequestFailsItAloneAndTheEngineGoesOn() throws Exception {
    try (SplitStack s = new SplitStack(GOLDEN.dir(), 1 << 24, 4, 1 << 24, 512)) {
      // Fault injection around the real client: tenant "oom" runs out of memory on its lookup.
      KvCacheClient failing = outOfMemoryFor("oom", s.kv);
      AtomicReference<Throwable> stopped = new AtomicReference<>();
      try (PrefillEngine engine =
          new PrefillEngine(
              s.model,
              failing,
              new CompletionFactory(null, s.model.config()),
              512,
              1 << 20,
              Duration.ofMinutes(5))) {
        engine.onStop(stopped::set);
        CompletableFuture<PrefillResult> bad = engine.submit(job("bad", "oom", GOLDEN.promptIds()));
        assertThatThrownBy(() -> bad.get(60, TimeUnit.SECONDS))
            .cause()
            .isInstanceOf(OutOfMemoryError.class);
        PrefillResult good =
            engine.submit(job("good", "t", GOLDEN.promptIds())).get(60, TimeUnit.SECONDS);
        assertThat(good.first().token().tokenId()).isEqualTo(GOLDEN.greedyIds()[0]);
        assertThat(stopped.get()).as("the engine stopped").isNull();
        s.kv.unpin("good");
      }
    }
  }

  @Test
  void decodeRefusesAHistoryPastTheContextAndSurvivesAnErrorInAJoin() throws Exception {
    try (SplitStack s = new SplitStack(GOLDEN.dir(), 1 << 24, 4, 1 << 24, 512)) {
      int context = s.model.config().maxPositionEmbeddings();
      int[] prompt = GOLDEN.promptIds();
      PrefillResult first = s.prefill("r", "t", prompt, SplitStack.greedy(4), false);
      SplitStack.Collector tooLong =
          s.startDecode("r", "t", prompt, first, SplitStack.greedy(context));
      assertThatThrownBy(() -> tooLong.done.get(60, TimeUnit.SECONDS))
          .cause()
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("context is " + context);
      // max_tokens counts the prefill's token: a request may fill the context exactly, as the
      // gateway asks when a client gives no max_tokens.
      int fill = context - prompt.length;
      PrefillResult whole = s.prefill("full", "t", prompt, SplitStack.greedy(fill), false);
      SplitStack.Collector full =
          s.startDecode("full", "t", prompt, whole, SplitStack.greedy(fill));
      assertThat(full.done.get(60, TimeUnit.SECONDS)).isEqualTo(FinishReason.LENGTH);
      assertThat(full.count()).as("tokens decoded after the prefill's").isEqualTo(fill - 1);
      SplitStack.Collector pastMax = new SplitStack.Collector();
      s.decode.submit(
          new DecodeJob(
              "over", "t", prompt, new int[] {5, 6, 7}, List.of(), 0, SplitStack.greedy(2), false),
          pastMax);
      assertThatThrownBy(() -> pastMax.done.get(60, TimeUnit.SECONDS))
          .cause()
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("generated_ids has 3 tokens, more than max_tokens 2");

      try (DecodeEngine engine =
          new DecodeEngine(
              s.model,
              outOfMemoryFor("oom", s.kv),
              new CompletionFactory(null, s.model.config()),
              1 << 24,
              16)) {
        SplitStack.Collector bad = new SplitStack.Collector();
        engine.submit(
            SplitStack.decodeJob("x", "oom", prompt, first, SplitStack.greedy(4), false), bad);
        assertThatThrownBy(() -> bad.done.get(60, TimeUnit.SECONDS))
            .cause()
            .isInstanceOf(OutOfMemoryError.class);
        SplitStack.Collector good = new SplitStack.Collector();
        engine.submit(
            SplitStack.decodeJob("r", "t", prompt, first, SplitStack.greedy(4), false), good);
        good.done.get(60, TimeUnit.SECONDS);
        assertThat(good.ids.get(0)).isEqualTo(GOLDEN.greedyIds()[1]);
      }
    }
  }

  /**
   * The real client, except that one tenant's lookups ({@code match}, {@code blockHashes}: the
   * calls whose first argument is the tenant) run out of memory. Closing it leaves the real one
   * open.
   */
  private static KvCacheClient outOfMemoryFor(String tenant, KvCacheClient real) {
    return (KvCacheClient)
        Proxy.newProxyInstance(
            KvCacheClient.class.getClassLoader(),
            new Class<?>[] {KvCacheClient.class},
            (proxy, method, args) -> {
              String name = method.getName();
              if ((name.equals("match") || name.equals("blockHashes")) && tenant.equals(args[0])) {
                throw new OutOfMemoryError("injected for tenant " + tenant);
              }
              if (name.equals("close")) {
                return null;
              }
              try {
                return method.invoke(real, args);
              } catch (InvocationTargetException e) {
                throw e.getCause();
              }
            });
  }
}
