package io.disaggmoe.attention.client;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import io.disaggmoe.proto.BlockHashChain;
import io.disaggmoe.proto.v1.BlockChunk;
import io.disaggmoe.proto.v1.BlockHeader;
import io.disaggmoe.proto.v1.BlockKey;
import io.disaggmoe.proto.v1.DeleteRequest;
import io.disaggmoe.proto.v1.GetBlocksRequest;
import io.disaggmoe.proto.v1.GetTransportRequest;
import io.disaggmoe.proto.v1.KvCacheServiceGrpc;
import io.disaggmoe.proto.v1.MatchPrefixRequest;
import io.disaggmoe.proto.v1.MatchPrefixResponse;
import io.disaggmoe.proto.v1.PinRequest;
import io.disaggmoe.proto.v1.PutBlocksRequest;
import io.disaggmoe.proto.v1.PutBlocksResponse;
import io.disaggmoe.proto.v1.Transport;
import io.disaggmoe.proto.v1.UnpinRequest;
import io.disaggmoe.proto.wire.KvCacheMethods;
import io.disaggmoe.proto.wire.ScratchBytes;
import io.disaggmoe.proto.wire.StageChannels;
import io.grpc.CallOptions;
import io.grpc.ConnectivityState;
import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ClientResponseObserver;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;
import java.util.zip.CRC32C;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@link KvCacheClient} of kv-cache-service: gRPC for control, and blocks (little-endian bytes of
 * the cache dtype) over the service's bulk channel when it has one, else over gRPC in 1 MiB chunks
 * written as the stream's flow control allows and read straight into floats.
 */
public final class GrpcKvCacheClient implements KvCacheClient {
  private static final int CHUNK = 1 << 20;
  // gRPC serializes a message while onNext runs, so one array per thread serves every block put.
  private static final ScratchBytes ENCODED = new ScratchBytes();

  private static final Logger log = LoggerFactory.getLogger(GrpcKvCacheClient.class);
  // How long puts and gets stay on gRPC after the bulk channel did not answer.
  private static final long BULK_RECHECK_NANOS = TimeUnit.SECONDS.toNanos(30);

  private static final long RECONNECT_MS = 500;
  private static final ScheduledExecutorService RECONNECTS =
      Executors.newSingleThreadScheduledExecutor(
          Thread.ofPlatform().daemon().name("kv-cache-reconnect").factory());

  private final String target;
  private final ManagedChannel channel;
  private final ScheduledFuture<?> reconnect;
  private final String modelId;
  private final BlockShape shape;
  private final Duration deadline;
  private volatile int blockTokens;
  private final Object transport = new Object();
  private BulkKvChannel bulk;
  private boolean bulkResolved;
  private long bulkResolvedAt;

  private GrpcKvCacheClient(
      String target,
      ManagedChannel channel,
      String modelId,
      int layers,
      int width,
      KvDtype dtype,
      Duration deadline) {
    this.target = target;
    this.channel = channel;
    this.modelId = modelId;
    this.shape = new BlockShape(target, modelId, layers, width, dtype);
    this.deadline = deadline;
    this.reconnect =
        RECONNECTS.scheduleWithFixedDelay(
            this::reconnectNow, RECONNECT_MS, RECONNECT_MS, TimeUnit.MILLISECONDS);
  }

  /**
   * A service that went away is tried again every half second: gRPC's own backoff grows to two
   * minutes between tries, so a restarted kv-cache-service would otherwise wait that long to be
   * used again.
   */
  private void reconnectNow() {
    if (channel.getState(false) == ConnectivityState.TRANSIENT_FAILURE) {
      channel.resetConnectBackoff();
    }
  }

  /**
   * Blocks of {@code layers x width} values per token, put as {@code dtype}; blocks of either dtype
   * are read back.
   */
  public static GrpcKvCacheClient connect(
      StageChannels channels,
      String target,
      String modelId,
      int layers,
      int width,
      KvDtype dtype,
      Duration deadline) {
    ManagedChannel channel = channels.open(target, StageChannels.Kind.KV_BLOCKS);
    return new GrpcKvCacheClient(target, channel, modelId, layers, width, dtype, deadline);
  }

  private KvCacheServiceGrpc.KvCacheServiceBlockingStub blocking() {
    return KvCacheServiceGrpc.newBlockingStub(channel)
        .withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS);
  }

  @Override
  public int blockTokens() {
    if (blockTokens == 0) {
      blockTokens = match("", new int[0]).blockTokens();
    }
    return blockTokens;
  }

  @Override
  public Prefix match(String tenant, int[] tokens) {
    MatchPrefixRequest.Builder r = MatchPrefixRequest.newBuilder().setModelId(modelId);
    r.setTenant(tenant);
    for (int t : tokens) {
      r.addTokenIds(t);
    }
    MatchPrefixResponse m = blocking().matchPrefix(r.build());
    blockTokens = m.getBlockTokens();
    List<byte[]> hashes = m.getBlockHashesList().stream().map(ByteString::toByteArray).toList();
    return new Prefix(m.getBlockTokens(), hashes, m.getMatchedTokens() / m.getBlockTokens());
  }

  @Override
  public List<byte[]> blockHashes(String tenant, byte[] parent, int[] tokens, int from, int to) {
    return BlockHashChain.extend(modelId, tenant, parent, tokens, from, to, blockTokens());
  }

  @Override
  public List<LatentBlock> getLeading(List<byte[]> hashes) {
    if (hashes.isEmpty()) {
      return List.of();
    }
    return getUntilMissing(hashes.stream().map(GrpcKvCacheClient::hashKey).toList());
  }

  @Override
  public LatentBlock getTail(String tenant, String requestId) {
    List<LatentBlock> tail = getUntilMissing(List.of(tailKey(tenant, requestId)));
    return tail.isEmpty() ? null : tail.get(0);
  }

  private List<LatentBlock> getUntilMissing(List<BlockKey> keys) {
    return overBulk(
        b -> b.getUntilMissing(keys),
        () ->
            getOverGrpc(
                GetBlocksRequest.newBuilder().addAllKeys(keys).setUntilMissing(true).build()));
  }

  private interface BulkOperation<T> {
    T run(BulkKvChannel b) throws BulkKvChannel.UnreachableException;
  }

  /**
   * {@code operation} over the bulk channel, or {@code overGrpc} when the service has none. A bulk
   * port that does not answer is asked for again (a restarted service may listen elsewhere); if it
   * still does not answer, gRPC carries the blocks for a while.
   */
  private <T> T overBulk(BulkOperation<T> operation, Supplier<T> overGrpc) {
    for (int attempt = 0; attempt < 2; attempt++) {
      BulkKvChannel b = bulkChannel();
      if (b == null) {
        break;
      }
      try {
        return operation.run(b);
      } catch (BulkKvChannel.UnreachableException e) {
        synchronized (transport) {
          if (bulk == b) {
            b.close();
            bulk = null;
            bulkResolved = attempt == 1;
            bulkResolvedAt = System.nanoTime();
          }
        }
        if (attempt == 1) {
          log.warn(
              "kv-cache-service {}: its bulk channel {} does not answer ({}); blocks go over gRPC",
              target,
              b.address(),
              e.getCause().toString());
        }
      }
    }
    return overGrpc.get();
  }

  /** The service's bulk channel, asked for once (and again after it failed), or null. */
  private BulkKvChannel bulkChannel() {
    synchronized (transport) {
      if (bulkResolved
          && (bulk != null || System.nanoTime() - bulkResolvedAt < BULK_RECHECK_NANOS)) {
        return bulk;
      }
      Transport t;
      try {
        t = blocking().getTransport(GetTransportRequest.getDefaultInstance());
      } catch (StatusRuntimeException e) {
        if (e.getStatus().getCode() != Status.Code.UNIMPLEMENTED) {
          // Asked again next time; the gRPC call that follows reports the failure.
          return null;
        }
        t = Transport.getDefaultInstance();
      }
      InetSocketAddress host = host(target);
      bulk =
          t.getBulkPort() == 0 || host == null
              ? null
              : new BulkKvChannel(
                  new InetSocketAddress(host.getHostString(), t.getBulkPort()), shape, deadline);
      bulkResolved = true;
      bulkResolvedAt = System.nanoTime();
      return bulk;
    }
  }

  /** The host of a {@code host:port} target (with an optional scheme), or null. */
  static InetSocketAddress host(String target) {
    String t = target.replaceFirst("^[a-z]+:/*", "");
    int colon = t.lastIndexOf(':');
    if (colon <= 0) {
      return null;
    }
    String host = t.substring(0, colon);
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    try {
      return InetSocketAddress.createUnresolved(host, Integer.parseInt(t.substring(colon + 1)));
    } catch (IllegalArgumentException e) {
      return null;
    }
  }

  /**
   * The blocks in request order up to the first missing one; the rest of the stream is cancelled.
   */
  private List<LatentBlock> getOverGrpc(GetBlocksRequest request) {
    List<LatentBlock> out = new ArrayList<>();
    Context.CancellableContext call = Context.current().withCancellation();
    try {
      call.run(
          () -> {
            Iterator<BlockChunk> chunks =
                ClientCalls.blockingServerStreamingCall(
                    channel,
                    KvCacheMethods.CLIENT_GET_BLOCKS,
                    CallOptions.DEFAULT.withDeadlineAfter(
                        deadline.toMillis(), TimeUnit.MILLISECONDS),
                    request);
            while (chunks.hasNext()) {
              LatentBlock b = readBlock(chunks);
              if (b == null) {
                return;
              }
              out.add(b);
            }
          });
    } finally {
      call.cancel(null);
    }
    return out;
  }

  /** One block from its chunks, or null if the service marked it missing. */
  private LatentBlock readBlock(Iterator<BlockChunk> chunks) {
    BlockChunk c = chunks.next();
    if (c.getMissing()) {
      return null;
    }
    BlockHeader h = c.getHeader();
    KvDtype got = shape.check(h);
    long values = h.getTotalBytes() / got.bytesPerValue();
    float[] out = new float[Math.toIntExact(values)];
    CRC32C crc = new CRC32C();
    long at = 0;
    while (true) {
      ByteString piece = c.getData();
      if (c.getOffset() != at
          || at + piece.size() > h.getTotalBytes()
          || piece.size() % got.bytesPerValue() != 0) {
        throw new IllegalStateException(
            target + " sent a chunk at offset " + c.getOffset() + " where " + at + " was next");
      }
      for (ByteBuffer b : piece.asReadOnlyByteBufferList()) {
        crc.update(b);
      }
      got.decode(piece, out, (int) (at / got.bytesPerValue()));
      at += piece.size();
      if (c.getLast()) {
        break;
      }
      c = chunks.next();
    }
    if (at != h.getTotalBytes() || (int) crc.getValue() != h.getChecksum()) {
      throw new IllegalStateException(target + " sent a block that fails its CRC32C or length");
    }
    return new LatentBlock(h.getTokens(), out);
  }

  @Override
  public void putBlocks(List<byte[]> hashes, List<LatentBlock> blocks) {
    List<BlockKey> keys = hashes.stream().map(GrpcKvCacheClient::hashKey).toList();
    put(keys, blocks);
  }

  @Override
  public void putTail(String tenant, String requestId, LatentBlock tail) {
    put(List.of(tailKey(tenant, requestId)), List.of(tail));
  }

  private void put(List<BlockKey> keys, List<LatentBlock> blocks) {
    if (keys.isEmpty()) {
      return;
    }
    outlivingTheCaller(() -> putNow(keys, blocks));
  }

  private void putNow(List<BlockKey> keys, List<LatentBlock> blocks) {
    overBulk(
        b -> {
          b.put(keys, blocks);
          return null;
        },
        () -> {
          putOverGrpc(keys, blocks);
          return null;
        });
  }

  private void putOverGrpc(List<BlockKey> keys, List<LatentBlock> blocks) {
    PutStream stream = new PutStream();
    KvCacheServiceGrpc.newStub(channel)
        .withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS)
        // Several chunks in flight before the sender waits; the window bounds the rest.
        .withOnReadyThreshold(4 * CHUNK)
        .putBlocks(stream);
    long until = System.nanoTime() + deadline.toNanos();
    try {
      for (int i = 0; i < keys.size(); i++) {
        LatentBlock b = blocks.get(i);
        int size = shape.bytes(b.tokens());
        byte[] data = ENCODED.take(size);
        shape.dtype().encode(b.data(), data);
        CRC32C crc = new CRC32C();
        crc.update(data, 0, size);
        BlockHeader header = shape.header(b.tokens(), (int) crc.getValue());
        for (int off = 0; off < size; off += CHUNK) {
          int n = Math.min(CHUNK, size - off);
          PutBlocksRequest.Builder c =
              PutBlocksRequest.newBuilder()
                  .setKey(keys.get(i))
                  .setOffset(off)
                  // Serialized before send returns, so the chunk can alias the scratch array.
                  .setData(UnsafeByteOperations.unsafeWrap(data, off, n))
                  .setLast(off + n == size);
          if (off == 0) {
            c.setHeader(header);
          }
          stream.send(c.build(), until);
        }
      }
      stream.requests.onCompleted();
      stream.done.get(Math.max(0, until - System.nanoTime()), TimeUnit.NANOSECONDS);
    } catch (ExecutionException e) {
      throw Status.fromThrowable(e.getCause())
          .augmentDescription("kv-cache-service " + target + ": PutBlocks")
          .asRuntimeException();
    } catch (TimeoutException e) {
      stream.requests.cancel("deadline", null);
      throw Status.DEADLINE_EXCEEDED
          .withDescription(
              "kv-cache-service " + target + ": PutBlocks took longer than " + deadline)
          .asRuntimeException();
    } catch (InterruptedException e) {
      stream.requests.cancel("interrupted", null);
      Thread.currentThread().interrupt();
      throw Status.CANCELLED.withDescription("interrupted").asRuntimeException();
    }
  }

  /**
   * One PutBlocks call that writes only while the transport is ready: a put larger than the flow
   * control window waits for the service to take what is in flight instead of buffering it all.
   */
  private static final class PutStream
      implements ClientResponseObserver<PutBlocksRequest, PutBlocksResponse> {
    final CompletableFuture<PutBlocksResponse> done = new CompletableFuture<>();
    private final Object ready = new Object();
    ClientCallStreamObserver<PutBlocksRequest> requests;

    @Override
    public void beforeStart(ClientCallStreamObserver<PutBlocksRequest> requests) {
      this.requests = requests;
      requests.setOnReadyHandler(
          () -> {
            synchronized (ready) {
              ready.notifyAll();
            }
          });
    }

    void send(PutBlocksRequest chunk, long untilNanos)
        throws InterruptedException, ExecutionException, TimeoutException {
      synchronized (ready) {
        while (!requests.isReady() && !done.isDone()) {
          long left = untilNanos - System.nanoTime();
          if (left <= 0) {
            throw new TimeoutException();
          }
          TimeUnit.NANOSECONDS.timedWait(ready, left);
        }
      }
      if (done.isDone()) {
        // The service answered before the last chunk: it failed the stream.
        done.get();
      }
      requests.onNext(chunk);
    }

    @Override
    public void onNext(PutBlocksResponse r) {
      done.complete(r);
    }

    @Override
    public void onError(Throwable t) {
      done.completeExceptionally(t);
      synchronized (ready) {
        ready.notifyAll();
      }
    }

    @Override
    public void onCompleted() {
      done.complete(PutBlocksResponse.getDefaultInstance());
    }
  }

  @Override
  public void pin(String tenant, String requestId, List<byte[]> hashes, Duration ttl) {
    PinRequest.Builder r =
        PinRequest.newBuilder()
            .setRequestId(requestId)
            .setTtlMs(ttl.toMillis())
            .addKeys(tailKey(tenant, requestId));
    hashes.forEach(h -> r.addKeys(hashKey(h)));
    PinRequest request = r.build();
    overBulk(
        b -> {
          b.pin(request);
          return null;
        },
        () -> blocking().pin(request));
  }

  @Override
  public void unpin(String requestId) {
    outlivingTheCaller(
        () -> blocking().unpin(UnpinRequest.newBuilder().setRequestId(requestId).build()));
  }

  @Override
  public void deleteTail(String tenant, String requestId) {
    outlivingTheCaller(
        () ->
            blocking()
                .delete(DeleteRequest.newBuilder().addKeys(tailKey(tenant, requestId)).build()));
  }

  /**
   * Runs a release or a store outside the cancellation of the call being served: a request
   * cancelled by its client must still drop its lease, and its blocks still serve later turns.
   * Trace context is kept.
   */
  private static void outlivingTheCaller(Runnable call) {
    Context.current().fork().run(call);
  }

  private static BlockKey hashKey(byte[] hash) {
    return BlockKey.newBuilder().setHash(ByteString.copyFrom(hash)).build();
  }

  private static BlockKey tailKey(String tenant, String requestId) {
    return BlockKey.newBuilder().setTailOfRequest(requestId).setTailTenant(tenant).build();
  }

  /** kv-cache-service's {@code host:port}. */
  public String target() {
    return target;
  }

  /**
   * Whether the service can be reached now: the channel is connected or connecting, not failing
   * (asking also starts a connection when idle).
   */
  public boolean reachable() {
    ConnectivityState s = channel.getState(true);
    return s != ConnectivityState.TRANSIENT_FAILURE && s != ConnectivityState.SHUTDOWN;
  }

  @Override
  public void close() {
    reconnect.cancel(false);
    synchronized (transport) {
      if (bulk != null) {
        bulk.close();
      }
    }
    channel.shutdownNow();
  }
}
