package io.disaggmoe.attention.client;

import io.disaggmoe.attention.core.ExpertPoolUnavailableException;
import io.disaggmoe.model.expert.ExpertExecutor;
import io.disaggmoe.model.layer.RoutingDecision;
import io.disaggmoe.proto.Tensors;
import io.disaggmoe.proto.errors.Failures;
import io.disaggmoe.proto.telemetry.StageTracing;
import io.disaggmoe.proto.v1.DispatchRequest;
import io.disaggmoe.proto.v1.Placement;
import io.disaggmoe.proto.wire.StageChannels;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.IntStream;

/**
 * Runs routed experts in remote expert pools. Per MoE layer call, each token's chosen experts are
 * grouped by the pool that will run them (spreading over replicas), every pool gets one dispatch on
 * its stream and returns each slot's weighted expert output, and each token's outputs are added in
 * ascending expert order, as the in-process executor adds them: the sum does not depend on which
 * pool ran which expert, so a pool's death or a rebalance in the middle of a request leaves its
 * tokens as they would have been.
 *
 * <p>A pool that fails a dispatch (broken stream, deadline) is taken out of rotation and its share
 * is sent again to replicas of the same experts, as is a share a full pool refused
 * (RESOURCE_EXHAUSTED); if none holds an expert, the call fails with {@link
 * ExpertPoolUnavailableException} naming the pool and the layer.
 */
public final class GrpcExpertExecutor implements ExpertExecutor {
  private static final System.Logger LOG = System.getLogger(GrpcExpertExecutor.class.getName());
  private static final ScheduledExecutorService LATER =
      Executors.newSingleThreadScheduledExecutor(
          Thread.ofPlatform().daemon().name("retired-pools").factory());

  private final Map<String, PoolConnection> pools = new LinkedHashMap<>();
  private final int experts;
  private final List<Integer> moeLayers;
  private final Duration deadline;
  private final StageChannels channels;
  private final AtomicLong calls = new AtomicLong();
  // The table passes route by, and the newest known; a pass starts with the newest.
  private volatile RoutingTable table;
  private volatile RoutingTable next;
  private volatile CompletableFuture<Void> nextChanged = new CompletableFuture<>();
  private volatile Duration failoverWait = Duration.ZERO;
  private volatile boolean inPass;

  private GrpcExpertExecutor(
      List<PoolConnection> connected, int experts, Duration deadline, StageChannels channels) {
    this.experts = experts;
    this.deadline = deadline;
    this.channels = channels;
    this.moeLayers = connected.get(0).placement().getMoeLayersList();
    Map<PoolConnection, Placement> own = new LinkedHashMap<>();
    for (PoolConnection p : connected) {
      pools.put(p.target(), p);
      own.put(p, p.placement());
    }
    this.table = new RoutingTable(0, own, experts);
    this.next = table;
    List<String> missing = table.missing(moeLayers);
    if (!missing.isEmpty()) {
      connected.forEach(PoolConnection::close);
      throw new IllegalStateException(
          "no expert pool among " + connected + " holds the experts of " + missing);
    }
  }

  /** The pools in rotation, in the order configured or learnt. */
  public synchronized List<PoolConnection> pools() {
    return List.copyOf(pools.values());
  }

  /**
   * Checks that every pool serves the model {@code modelId} names ({@link
   * io.disaggmoe.model.ModelIdentity}): experts of another checkpoint would compute nonsense
   * without failing.
   *
   * @throws IllegalStateException naming the pool and both ids
   */
  public void requireModel(String modelId) {
    for (PoolConnection p : pools()) {
      String served = p.placement().getModelId();
      if (!served.equals(modelId)) {
        throw new IllegalStateException(
            "expert pool " + p + " serves model " + served + ", not this instance's " + modelId);
      }
    }
  }

  /**
   * Connects to the pools at {@code targets} ({@code host:port}) and checks that together they hold
   * all {@code experts}; {@code deadline} bounds every call.
   */
  public static GrpcExpertExecutor connect(
      List<String> targets, int experts, Duration deadline, StageChannels channels) {
    if (targets.isEmpty()) {
      throw new IllegalArgumentException("no expert pool to connect to");
    }
    List<PoolConnection> pools = new ArrayList<>();
    try {
      for (String t : targets) {
        pools.add(PoolConnection.open(t, deadline, channels));
      }
    } catch (RuntimeException e) {
      pools.forEach(PoolConnection::close);
      throw e;
    }
    return new GrpcExpertExecutor(pools, experts, deadline, channels);
  }

  /**
   * How long a dispatch whose experts no live pool holds waits for a newer routing table (the
   * control plane re-placing a dead pool's experts) before it fails; zero without a control plane.
   */
  public void setFailoverWait(Duration wait) {
    this.failoverWait = wait;
  }

  /**
   * Routes by {@code placements} (each pool's {@code host:port} and the placement to route to it
   * by, from topology {@code version}) from the next forward pass on: pools not connected yet are
   * connected, and pools it does not name get no further dispatch and are closed once the
   * dispatches already sent to them are past their deadline.
   */
  public void route(Map<String, Placement> placements, long version) {
    List<PoolConnection> retired = new ArrayList<>();
    synchronized (this) {
      Map<PoolConnection, Placement> byPool = new LinkedHashMap<>();
      placements.forEach(
          (target, placement) -> {
            PoolConnection c = pools.get(target);
            if (c == null) {
              try {
                c = PoolConnection.open(target, deadline, channels);
              } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "expert pool {0} not reached: {1}", target, e.getMessage());
                return;
              }
              pools.put(target, c);
            }
            byPool.put(c, placement);
          });
      pools
          .values()
          .removeIf(
              c -> {
                boolean gone = !placements.containsKey(c.target());
                if (gone) {
                  retired.add(c);
                }
                return gone;
              });
      RoutingTable t = new RoutingTable(version, byPool, experts);
      List<String> missing = t.missing(moeLayers);
      if (!missing.isEmpty()) {
        LOG.log(
            Level.WARNING,
            "topology {0}: no expert pool holds the experts of {1}; their dispatches wait",
            version,
            missing);
      }
      next = t;
      CompletableFuture<Void> changed = nextChanged;
      nextChanged = new CompletableFuture<>();
      changed.complete(null);
    }
    for (PoolConnection c : retired) {
      LOG.log(Level.INFO, "expert pool {0} left the topology; no longer routed to", c);
      LATER.schedule(c::close, deadline.toMillis(), TimeUnit.MILLISECONDS);
    }
  }

  /** A pass routes by one table throughout: the newest known when it begins. */
  @Override
  public void beginPass() {
    inPass = true;
    table = next;
  }

  @Override
  public void endPass() {
    inPass = false;
  }

  /**
   * The topology version this instance routes by: the running pass's table, or between passes the
   * newest, which the next pass will take (0: the pools' own placements).
   */
  public long routedVersion() {
    return inPass ? table.version() : next.version();
  }

  /** Resident expert bytes of each pool, in {@link #pools()} order. */
  public List<Long> residentBytes() {
    return pools().stream().map(p -> p.placement().getResidentBytes()).toList();
  }

  /**
   * Expert passes made by all pools since they started: each is one read of one expert's weights,
   * which is what a CPU decode step's cost follows.
   */
  public long expertPasses() {
    return pools().stream().mapToLong(p -> p.expertPasses(deadline)).sum();
  }

  @Override
  public CompletableFuture<float[]> dispatch(
      int layer, float[] hidden, int dim, RoutingDecision routing) {
    int tokens = routing.tokens();
    int k = tokens == 0 ? 0 : routing.expertIds()[0].length;
    boolean[] all = new boolean[tokens * k];
    Arrays.fill(all, true);
    long waitUntil = System.nanoTime() + failoverWait.toNanos();
    return dispatchSlots(layer, hidden, dim, routing, all, table, new HashSet<>(), null, waitUntil)
        .thenApply(parts -> sum(parts, routing, dim));
  }

  /** One pool's weighted expert outputs for some slots ({@code token * k + j}) of the call. */
  private record Part(int[] slots, float[] rows) {}

  /**
   * Per token, the weighted outputs of its slots added in ascending expert order, whichever pools
   * (and how many) they came from.
   */
  private static float[] sum(List<Part> parts, RoutingDecision routing, int dim) {
    int tokens = routing.tokens();
    int k = tokens == 0 ? 0 : routing.expertIds()[0].length;
    float[][] rowsOf = new float[tokens * k][];
    int[] rowAt = new int[tokens * k];
    for (Part part : parts) {
      for (int r = 0; r < part.slots().length; r++) {
        rowsOf[part.slots()[r]] = part.rows();
        rowAt[part.slots()[r]] = r * dim;
      }
    }
    float[] out = new float[tokens * dim];
    int[] order = new int[k];
    for (int t = 0; t < tokens; t++) {
      int[] ids = routing.expertIds()[t];
      for (int j = 0; j < k; j++) {
        int i = j;
        while (i > 0 && ids[order[i - 1]] > ids[j]) {
          order[i] = order[i - 1];
          i--;
        }
        order[i] = j;
      }
      for (int j : order) {
        int s = t * k + j;
        if (rowsOf[s] == null) {
          throw new IllegalStateException("no pool answered slot " + j + " of token " + t);
        }
        float[] rows = rowsOf[s];
        int src = rowAt[s];
        int dst = t * dim;
        for (int c = 0; c < dim; c++) {
          out[dst + c] += rows[src + c];
        }
      }
    }
    return out;
  }

  /**
   * Sends the slots in {@code mask} to live pools of {@code t} other than {@code excluded}. When no
   * live pool holds an expert, waits until {@code waitUntil} (nanoTime) for a newer table.
   */
  private CompletableFuture<List<Part>> dispatchSlots(
      int layer,
      float[] hidden,
      int dim,
      RoutingDecision routing,
      boolean[] mask,
      RoutingTable table,
      Set<PoolConnection> excluded,
      Throwable lastFailure,
      long waitUntil) {
    int tokens = routing.tokens();
    int k = mask.length / Math.max(tokens, 1);
    long call = calls.incrementAndGet();
    Map<PoolConnection, boolean[]> byPool = new LinkedHashMap<>();
    for (int t = 0; t < tokens; t++) {
      for (int j = 0; j < k; j++) {
        if (!mask[t * k + j]) {
          continue;
        }
        int e = routing.expertIds()[t][j];
        PoolConnection p = choose(table, layer, e, excluded, call);
        if (p == null) {
          long left = waitUntil - System.nanoTime();
          if (left <= 0) {
            return CompletableFuture.failedFuture(unavailable(table, layer, e, lastFailure));
          }
          // A copy, so that this wait's timeout does not wake the others.
          CompletableFuture<Void> changed =
              next != table ? CompletableFuture.completedFuture(null) : nextChanged.copy();
          return changed
              .completeOnTimeout(null, left, TimeUnit.NANOSECONDS)
              .thenCompose(
                  x ->
                      dispatchSlots(
                          layer,
                          hidden,
                          dim,
                          routing,
                          mask,
                          next,
                          new HashSet<>(),
                          lastFailure,
                          next != table ? waitUntil : System.nanoTime()));
        }
        byPool.computeIfAbsent(p, x -> new boolean[mask.length])[t * k + j] = true;
      }
    }
    List<CompletableFuture<List<Part>>> parts = new ArrayList<>();
    for (var entry : byPool.entrySet()) {
      PoolConnection pool = entry.getKey();
      boolean[] slots = entry.getValue();
      CompletableFuture<List<Part>> part =
          send(pool, layer, hidden, dim, routing, slots)
              .handle(
                  (sent, err) -> {
                    if (err == null) {
                      return CompletableFuture.completedFuture(List.of(sent));
                    }
                    Throwable cause = Failures.unwrap(err);
                    if (!retryable(cause)) {
                      return CompletableFuture.<List<Part>>failedFuture(cause);
                    }
                    Set<PoolConnection> more = new HashSet<>(excluded);
                    more.add(pool);
                    return dispatchSlots(
                        layer, hidden, dim, routing, slots, table, more, cause, waitUntil);
                  })
              .thenCompose(f -> f);
      parts.add(part);
    }
    return CompletableFuture.allOf(parts.toArray(CompletableFuture[]::new))
        .thenApply(done -> parts.stream().flatMap(p -> p.join().stream()).toList());
  }

  private ExpertPoolUnavailableException unavailable(
      RoutingTable t, int layer, int expert, Throwable cause) {
    List<PoolConnection> down = t.holders(layer, expert);
    return new ExpertPoolUnavailableException(
        "expert pool "
            + (down.isEmpty() ? "[none]" : down.size() == 1 ? down.get(0) : down)
            + " failed"
            + (cause == null ? "" : " (" + cause.getMessage() + ")")
            + " and no other live pool holds expert "
            + expert
            + " of layer "
            + layer,
        cause);
  }

  /** A live holder of expert {@code e}, rotating over replicas from call to call. */
  private static PoolConnection choose(
      RoutingTable t, int layer, int e, Set<PoolConnection> excluded, long call) {
    List<PoolConnection> live =
        t.holders(layer, e).stream().filter(p -> p.alive() && !excluded.contains(p)).toList();
    return live.isEmpty() ? null : live.get((int) ((call + e) % live.size()));
  }

  /** One dispatch of {@code slots} to {@code pool}: the rows of the tokens that have one. */
  private CompletableFuture<Part> send(
      PoolConnection pool,
      int layer,
      float[] hidden,
      int dim,
      RoutingDecision routing,
      boolean[] slots) {
    int tokens = routing.tokens();
    int k = slots.length / tokens;
    int[] sent =
        IntStream.range(0, tokens)
            .filter(t -> IntStream.range(0, k).anyMatch(j -> slots[t * k + j]))
            .toArray();
    // The rows come back in (token, slot) order: the sent tokens' slots of this pool.
    int[] mine = IntStream.range(0, slots.length).filter(s -> slots[s]).toArray();
    int n = sent.length;
    int[] ids = new int[n * k];
    float[] w = new float[n * k];
    for (int r = 0; r < n; r++) {
      int t = sent[r];
      for (int j = 0; j < k; j++) {
        boolean here = slots[t * k + j];
        ids[r * k + j] = here ? routing.expertIds()[t][j] : -1;
        w[r * k + j] = here ? routing.weights()[t][j] : 0f;
      }
    }
    DispatchRequest request =
        DispatchRequest.newBuilder()
            .setLayer(layer)
            .setHidden(Tensors.f32Rows(hidden, dim, sent))
            .setExpertIds(Tensors.i32(ids, n, k))
            .setRoutingWeights(Tensors.f32(w, n, k))
            .setTraceparent(StageTracing.traceparent())
            .build();
    return pool.send(request, deadline)
        .thenApply(
            response -> {
              if (response.rows() != mine.length || response.dim() != dim) {
                throw new IllegalStateException(
                    "pool "
                        + pool
                        + " returned ["
                        + response.rows()
                        + ", "
                        + response.dim()
                        + "] slot outputs for ["
                        + mine.length
                        + ", "
                        + dim
                        + "]");
              }
              return new Part(mine, response.partial());
            });
  }

  /**
   * Transport trouble, a full pool and a pool that no longer holds the expert are worth another
   * holder; a pool refusing the arguments is not.
   */
  private static boolean retryable(Throwable t) {
    if (t instanceof TimeoutException) {
      return true;
    }
    if (t instanceof StatusRuntimeException s) {
      Status.Code c = s.getStatus().getCode();
      return c == Status.Code.UNAVAILABLE
          || c == Status.Code.RESOURCE_EXHAUSTED
          || c == Status.Code.DEADLINE_EXCEEDED
          || c == Status.Code.CANCELLED
          // A pool that dropped the expert after a switch this pass has not seen yet.
          || c == Status.Code.FAILED_PRECONDITION
          || c == Status.Code.UNKNOWN
          || c == Status.Code.INTERNAL;
    }
    return false;
  }

  @Override
  public void close() {
    pools().forEach(PoolConnection::close);
  }
}
