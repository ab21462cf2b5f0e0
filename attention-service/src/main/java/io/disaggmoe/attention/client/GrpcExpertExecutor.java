package io.disaggmoe.attention.client;

import io.disaggmoe.attention.core.ExpertPoolUnavailableException;
import io.disaggmoe.model.expert.ExpertExecutor;
import io.disaggmoe.model.layer.RoutingDecision;
import io.disaggmoe.proto.Tensors;
import io.disaggmoe.proto.errors.Failures;
import io.disaggmoe.proto.telemetry.StageTracing;
import io.disaggmoe.proto.v1.DispatchRequest;
import io.disaggmoe.proto.wire.StageChannels;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.IntStream;

/**
 * Runs routed experts in remote expert pools. Per MoE layer call, each token's chosen experts are
 * grouped by the pool that will run them (spreading over replicas), every pool gets one dispatch on
 * its stream, and the partial sums are added in pool order.
 *
 * <p>A pool that fails a dispatch (broken stream, deadline) is taken out of rotation and its share
 * is sent again to replicas of the same experts, as is a share a full pool refused
 * (RESOURCE_EXHAUSTED); if none holds an expert, the call fails with {@link
 * ExpertPoolUnavailableException} naming the pool and the layer.
 */
public final class GrpcExpertExecutor implements ExpertExecutor {
  private final List<PoolConnection> pools;
  private final Map<Integer, List<PoolConnection>> holders = new LinkedHashMap<>();
  private final Duration deadline;
  private final AtomicLong calls = new AtomicLong();

  private GrpcExpertExecutor(List<PoolConnection> pools, int experts, Duration deadline) {
    this.pools = pools;
    this.deadline = deadline;
    for (int e = 0; e < experts; e++) {
      holders.put(e, new ArrayList<>());
    }
    for (PoolConnection p : pools) {
      for (int e : p.placement().getExpertsList()) {
        holders.computeIfAbsent(e, k -> new ArrayList<>()).add(p);
      }
    }
    List<Integer> missing =
        holders.entrySet().stream()
            .filter(x -> x.getValue().isEmpty())
            .map(Map.Entry::getKey)
            .toList();
    if (!missing.isEmpty()) {
      pools.forEach(PoolConnection::close);
      throw new IllegalStateException(
          "no expert pool among " + pools + " holds experts " + missing);
    }
  }

  /** The pools, in the order configured. */
  public List<PoolConnection> pools() {
    return List.copyOf(pools);
  }

  /**
   * Checks that every pool serves the model {@code modelId} names ({@link
   * io.disaggmoe.model.ModelIdentity}): experts of another checkpoint would compute nonsense
   * without failing.
   *
   * @throws IllegalStateException naming the pool and both ids
   */
  public void requireModel(String modelId) {
    for (PoolConnection p : pools) {
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
    List<PoolConnection> pools = new ArrayList<>();
    try {
      for (String t : targets) {
        pools.add(PoolConnection.open(t, deadline, channels));
      }
    } catch (RuntimeException e) {
      pools.forEach(PoolConnection::close);
      throw e;
    }
    return new GrpcExpertExecutor(pools, experts, deadline);
  }

  /** Resident expert bytes of each pool, in the order given to {@link #connect}. */
  public List<Long> residentBytes() {
    return pools.stream().map(p -> p.placement().getResidentBytes()).toList();
  }

  /**
   * Expert passes made by all pools since they started: each is one read of one expert's weights,
   * which is what a CPU decode step's cost follows.
   */
  public long expertPasses() {
    return pools.stream().mapToLong(p -> p.expertPasses(deadline)).sum();
  }

  @Override
  public CompletableFuture<float[]> dispatch(
      int layer, float[] hidden, int dim, RoutingDecision routing) {
    int tokens = routing.tokens();
    int k = tokens == 0 ? 0 : routing.expertIds()[0].length;
    boolean[] all = new boolean[tokens * k];
    Arrays.fill(all, true);
    return dispatchSlots(layer, hidden, dim, routing, all, new HashSet<>(), null)
        .thenApply(
            parts -> {
              // Added in pool order, so the sum does not depend on which pool answered first.
              float[] out = new float[tokens * dim];
              for (Part part : parts) {
                part.addInto(out, dim);
              }
              return out;
            });
  }

  /** One pool's partial sums for some token rows of the call. */
  private record Part(int[] rows, float[] partial) {
    void addInto(float[] out, int dim) {
      for (int r = 0; r < rows.length; r++) {
        int dst = rows[r] * dim;
        for (int c = 0; c < dim; c++) {
          out[dst + c] += partial[r * dim + c];
        }
      }
    }
  }

  /** Sends the slots in {@code mask} to live pools other than {@code excluded}. */
  private CompletableFuture<List<Part>> dispatchSlots(
      int layer,
      float[] hidden,
      int dim,
      RoutingDecision routing,
      boolean[] mask,
      Set<PoolConnection> excluded,
      Throwable lastFailure) {
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
        PoolConnection p = choose(e, excluded, call);
        if (p == null) {
          return CompletableFuture.failedFuture(unavailable(layer, e, lastFailure));
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
                    return dispatchSlots(layer, hidden, dim, routing, slots, more, cause);
                  })
              .thenCompose(f -> f);
      parts.add(part);
    }
    return CompletableFuture.allOf(parts.toArray(CompletableFuture[]::new))
        .thenApply(done -> parts.stream().flatMap(p -> p.join().stream()).toList());
  }

  private ExpertPoolUnavailableException unavailable(int layer, int expert, Throwable cause) {
    List<PoolConnection> down = holders.get(expert);
    return new ExpertPoolUnavailableException(
        "expert pool "
            + (down.size() == 1 ? down.get(0) : down)
            + " failed"
            + (cause == null ? "" : " (" + cause.getMessage() + ")")
            + " and no other live pool holds expert "
            + expert
            + " of layer "
            + layer,
        cause);
  }

  /** A live holder of expert {@code e}, rotating over replicas from call to call. */
  private PoolConnection choose(int e, Set<PoolConnection> excluded, long call) {
    List<PoolConnection> live =
        holders.get(e).stream().filter(p -> p.alive() && !excluded.contains(p)).toList();
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
    int n = sent.length;
    int[] ids = new int[n * k];
    float[] w = new float[n * k];
    for (int r = 0; r < n; r++) {
      int t = sent[r];
      for (int j = 0; j < k; j++) {
        boolean mine = slots[t * k + j];
        ids[r * k + j] = mine ? routing.expertIds()[t][j] : -1;
        w[r * k + j] = mine ? routing.weights()[t][j] : 0f;
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
              if (response.rows() != n || response.dim() != dim) {
                throw new IllegalStateException(
                    "pool "
                        + pool
                        + " returned ["
                        + response.rows()
                        + ", "
                        + response.dim()
                        + "] partial sums for ["
                        + n
                        + ", "
                        + dim
                        + "]");
              }
              return new Part(sent, response.partial());
            });
  }

  /**
   * Transport trouble and a full pool are worth a replica; a pool refusing the arguments is not.
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
          || c == Status.Code.UNKNOWN
          || c == Status.Code.INTERNAL;
    }
    return false;
  }

  @Override
  public void close() {
    pools.forEach(PoolConnection::close);
  }
}
