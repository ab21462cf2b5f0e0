package io.disaggmoe.attention.client;

import io.disaggmoe.proto.v1.DispatchRequest;
import io.disaggmoe.proto.v1.ExpertServiceGrpc;
import io.disaggmoe.proto.v1.GetExpertLoadRequest;
import io.disaggmoe.proto.v1.GetPlacementRequest;
import io.disaggmoe.proto.v1.Placement;
import io.disaggmoe.proto.wire.DispatchMethods;
import io.disaggmoe.proto.wire.ReadyGatedStream;
import io.disaggmoe.proto.wire.ReceivedPartial;
import io.disaggmoe.proto.wire.StageChannels;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ClientResponseObserver;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One expert pool as an attention instance sees it: its placement and one long-lived dispatch
 * stream, whose responses complete the pending dispatches by id. When the stream breaks, every
 * pending dispatch fails and the pool is out of rotation until it recovers: it is probed with the
 * gRPC health protocol (backing off from 100 ms to 5 s), and once it answers SERVING for the same
 * model a new stream takes it back, whether it came back or was restarted on its address.
 *
 * <p>Deadlines are enforced by one periodic sweep per connection rather than a timer per dispatch:
 * arming and cancelling a {@code CompletableFuture.orTimeout} timer woke the JDK's delayer thread
 * on every dispatch ({@code bench rpc} p50 341 -> 287 us in one A/B pair on 2 cores).
 */
public final class PoolConnection implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger(PoolConnection.class.getName());

  private final String target;
  private final ManagedChannel channel;
  private volatile Placement placement;
  private final Map<Long, Pending> pending = new ConcurrentHashMap<>();
  private final AtomicLong ids = new AtomicLong();
  private final Duration deadline;
  private ScheduledFuture<?> sweep;
  // Dispatches leave only while the transport is ready; a pool more than this behind in reading
  // them is cut off, and out of rotation until it recovers.
  private static final long SEND_LIMIT_BYTES = 256L << 20;

  private ReadyGatedStream<DispatchRequest> stream;
  private volatile boolean alive = true;
  private volatile boolean closed;
  private final AtomicBoolean recovering = new AtomicBoolean();

  /** A dispatch waiting for its reply, and when it stops waiting. */
  private record Pending(CompletableFuture<ReceivedPartial> reply, long deadlineNanos) {}

  private static final ScheduledExecutorService SWEEPER =
      Executors.newSingleThreadScheduledExecutor(
          Thread.ofPlatform().daemon().name("dispatch-deadlines").factory());

  // Probes block on the network: a thread of their own, so sweeps are never late for them.
  private static final ScheduledExecutorService PROBES =
      Executors.newSingleThreadScheduledExecutor(
          Thread.ofPlatform().daemon().name("pool-probes").factory());

  private static final long FIRST_PROBE_MS = 100;
  private static final long LAST_PROBE_MS = 5_000;

  private PoolConnection(
      String target, ManagedChannel channel, Placement placement, Duration deadline) {
    this.target = target;
    this.channel = channel;
    this.placement = placement;
    this.deadline = deadline;
    this.sweep = startSweep();
  }

  /** A dispatch fails at most a tenth of its deadline late (between 1 and 100 ms). */
  private ScheduledFuture<?> startSweep() {
    long period = Math.clamp(deadline.toNanos() / 10, 1_000_000L, 100_000_000L);
    return SWEEPER.scheduleAtFixedRate(this::expire, period, period, TimeUnit.NANOSECONDS);
  }

  public static PoolConnection open(String target, Duration deadline, StageChannels channels) {
    ManagedChannel channel = channels.open(target, StageChannels.Kind.DISPATCH);
    try {
      Placement placement =
          ExpertServiceGrpc.newBlockingStub(channel)
              .withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS)
              .getPlacement(GetPlacementRequest.getDefaultInstance());
      PoolConnection pool = new PoolConnection(target, channel, placement, deadline);
      pool.stream = pool.openStream();
      return pool;
    } catch (StatusRuntimeException e) {
      channel.shutdownNow();
      throw new IllegalStateException(
          "expert pool " + target + " did not answer GetPlacement: " + e.getStatus(), e);
    }
  }

  private ReadyGatedStream<DispatchRequest> openStream() {
    Responses responses = new Responses();
    ClientCalls.asyncBidiStreamingCall(
        channel.newCall(DispatchMethods.CLIENT_DISPATCH_STREAM, CallOptions.DEFAULT), responses);
    return responses.requests;
  }

  public Placement placement() {
    return placement;
  }

  /** The expert passes the pool has made since it started (its {@code GetExpertLoad}). */
  public long expertPasses(Duration deadline) {
    return ExpertServiceGrpc.newBlockingStub(channel)
        .withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS)
        .getExpertLoad(GetExpertLoadRequest.getDefaultInstance())
        .getExpertPasses();
  }

  /** Whether the pool is in rotation: its stream is up. */
  public boolean alive() {
    return alive;
  }

  /** {@code host:port} as configured. */
  public String target() {
    return target;
  }

  @Override
  public String toString() {
    return target + " (pool " + placement.getPoolIndex() + "/" + placement.getPoolCount() + ")";
  }

  /**
   * Sends one dispatch on the stream; the future holds the decoded partial sums, or fails with the
   * status the pool answered.
   */
  public CompletableFuture<ReceivedPartial> send(DispatchRequest request, Duration deadline) {
    if (!alive) {
      return CompletableFuture.failedFuture(closed());
    }
    long id = ids.incrementAndGet();
    CompletableFuture<ReceivedPartial> f = new CompletableFuture<>();
    pending.put(id, new Pending(f, System.nanoTime() + deadline.toNanos()));
    if (!alive && pending.remove(id) != null) {
      // The stream failed while this dispatch was being registered.
      f.completeExceptionally(closed());
      return f;
    }
    synchronized (this) {
      stream.send(request.toBuilder().setDispatchId(id).build());
    }
    return f;
  }

  private StatusRuntimeException closed() {
    return Status.UNAVAILABLE
        .withDescription(this + ": dispatch stream is closed")
        .asRuntimeException();
  }

  /**
   * A pool that let a dispatch pass its deadline is taken out of rotation like one whose stream
   * broke: its stream is cancelled and every dispatch still waiting on it fails with
   * DEADLINE_EXCEEDED, so that callers retry on replicas instead of waiting again.
   */
  private void expire() {
    long now = System.nanoTime();
    boolean late = pending.values().stream().anyMatch(p -> now - p.deadlineNanos() >= 0);
    if (!late) {
      return;
    }
    Status status =
        Status.DEADLINE_EXCEEDED.withDescription(
            this + ": no reply to a dispatch within its deadline; pool taken out of rotation");
    fail(status);
    synchronized (this) {
      try {
        stream.fail(status);
      } catch (RuntimeException ignored) {
        // Already broken.
      }
    }
  }

  private void fail(Status status) {
    alive = false;
    sweep.cancel(false);
    StatusRuntimeException e = status.asRuntimeException();
    for (Long id : pending.keySet()) {
      Pending p = pending.remove(id);
      if (p != null) {
        p.reply().completeExceptionally(e);
      }
    }
    if (!closed && recovering.compareAndSet(false, true)) {
      LOG.log(Level.WARNING, "{0} out of rotation: {1}", new Object[] {this, status});
      PROBES.schedule(() -> probe(FIRST_PROBE_MS), FIRST_PROBE_MS, TimeUnit.MILLISECONDS);
    }
  }

  /**
   * Takes the pool back once its health check answers SERVING and it holds the experts it held;
   * else probes again after twice the wait.
   */
  private void probe(long waitedMs) {
    if (closed) {
      return;
    }
    try {
      HealthCheckResponse health =
          HealthGrpc.newBlockingStub(channel)
              .withDeadlineAfter(Math.min(deadline.toMillis(), 2_000), TimeUnit.MILLISECONDS)
              .check(HealthCheckRequest.getDefaultInstance());
      if (health.getStatus() == HealthCheckResponse.ServingStatus.SERVING) {
        Placement now =
            ExpertServiceGrpc.newBlockingStub(channel)
                .withDeadlineAfter(Math.min(deadline.toMillis(), 2_000), TimeUnit.MILLISECONDS)
                .getPlacement(GetPlacementRequest.getDefaultInstance());
        // Which experts it holds may have changed (the control plane re-placed them, or it
        // restarted with its configured placement): routing follows the topology, and a
        // dispatch for an expert it lacks is refused and sent to another holder.
        if (now.getModelId().equals(placement.getModelId())
            && now.getHiddenSize() == placement.getHiddenSize()) {
          placement = now;
          synchronized (this) {
            if (closed) {
              return;
            }
            stream = openStream();
            sweep = startSweep();
            recovering.set(false);
            alive = true;
          }
          LOG.log(Level.INFO, "{0} back in rotation", this);
          return;
        }
        LOG.log(
            Level.WARNING,
            "{0} answers again but serves another model ({1}); left out of rotation",
            new Object[] {this, now});
      }
    } catch (StatusRuntimeException e) {
      // Still down: probed again later.
    }
    long next = Math.min(waitedMs * 2, LAST_PROBE_MS);
    PROBES.schedule(() -> probe(next), next, TimeUnit.MILLISECONDS);
  }

  private final class Responses
      implements ClientResponseObserver<DispatchRequest, ReceivedPartial> {
    ReadyGatedStream<DispatchRequest> requests;

    @Override
    public void beforeStart(ClientCallStreamObserver<DispatchRequest> call) {
      // Cut off, the call is cancelled and onError below takes the pool out of rotation.
      requests = new ReadyGatedStream<>(call, SEND_LIMIT_BYTES, "expert pool " + target, () -> {});
    }

    @Override
    public void onNext(ReceivedPartial r) {
      Pending p = pending.remove(r.dispatchId());
      if (p == null) {
        return;
      }
      if (r.error() != null) {
        p.reply().completeExceptionally(r.error().asRuntimeException());
      } else {
        p.reply().complete(r);
      }
    }

    @Override
    public void onError(Throwable t) {
      fail(Status.fromThrowable(t));
    }

    @Override
    public void onCompleted() {
      fail(Status.UNAVAILABLE.withDescription("the pool closed the dispatch stream"));
    }
  }

  @Override
  public void close() {
    closed = true;
    alive = false;
    sweep.cancel(false);
    synchronized (this) {
      try {
        stream.complete();
      } catch (RuntimeException ignored) {
        // Already broken; the channel goes anyway.
      }
    }
    channel.shutdownNow();
  }
}
