package io.disaggmoe.attention.client;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import io.disaggmoe.proto.BlockHashChain;
import io.disaggmoe.proto.Tensors;
import io.disaggmoe.proto.telemetry.StageTracing;
import io.disaggmoe.proto.v1.BlockChunk;
import io.disaggmoe.proto.v1.BlockHeader;
import io.disaggmoe.proto.v1.BlockKey;
import io.disaggmoe.proto.v1.DeleteRequest;
import io.disaggmoe.proto.v1.GetBlocksRequest;
import io.disaggmoe.proto.v1.KvCacheServiceGrpc;
import io.disaggmoe.proto.v1.MatchPrefixRequest;
import io.disaggmoe.proto.v1.MatchPrefixResponse;
import io.disaggmoe.proto.v1.PinRequest;
import io.disaggmoe.proto.v1.PutBlocksRequest;
import io.disaggmoe.proto.v1.PutBlocksResponse;
import io.disaggmoe.proto.v1.UnpinRequest;
import io.disaggmoe.proto.wire.TensorSockets;
import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.zip.CRC32C;

/** {@link KvCacheClient} over gRPC: F32 blocks travel as little-endian bytes in 1 MiB chunks. */
public final class GrpcKvCacheClient implements KvCacheClient {
  private static final int CHUNK = 1 << 20;

  private final String target;
  private final ManagedChannel channel;
  private final String modelId;
  private final int layers;
  private final int width;
  private final Duration deadline;
  private volatile int blockTokens;

  private GrpcKvCacheClient(
      String target,
      ManagedChannel channel,
      String modelId,
      int layers,
      int width,
      Duration deadline) {
    this.target = target;
    this.channel = channel;
    this.modelId = modelId;
    this.layers = layers;
    this.width = width;
    this.deadline = deadline;
  }

  /** Blocks of {@code layers x width} F32 values per token, stored for {@code modelId}. */
  public static GrpcKvCacheClient connect(
      String target, String modelId, int layers, int width, Duration deadline) {
    ManagedChannel channel =
        TensorSockets.tune(NettyChannelBuilder.forTarget(target))
            .usePlaintext()
            .maxInboundMessageSize(64 << 20)
            .flowControlWindow(16 << 20)
            .intercept(StageTracing.clientInterceptor())
            .build();
    return new GrpcKvCacheClient(target, channel, modelId, layers, width, deadline);
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
    GetBlocksRequest.Builder r = GetBlocksRequest.newBuilder();
    hashes.forEach(h -> r.addKeys(hashKey(h)));
    return getUntilMissing(r.build());
  }

  @Override
  public LatentBlock getTail(String requestId) {
    List<LatentBlock> tail =
        getUntilMissing(GetBlocksRequest.newBuilder().addKeys(tailKey(requestId)).build());
    return tail.isEmpty() ? null : tail.get(0);
  }

  /**
   * The blocks in request order up to the first missing one; the rest of the stream is cancelled.
   */
  private List<LatentBlock> getUntilMissing(GetBlocksRequest request) {
    List<LatentBlock> out = new ArrayList<>();
    Context.CancellableContext call = Context.current().withCancellation();
    try {
      call.run(
          () -> {
            Iterator<BlockChunk> chunks = blocking().getBlocks(request);
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
    if (!h.getDtype().equals("F32") || h.getLayers() != layers || h.getWidth() != width) {
      throw new IllegalStateException(
          target
              + " returned a block of "
              + h.getLayers()
              + " layers x "
              + h.getWidth()
              + " "
              + h.getDtype()
              + "; this model needs "
              + layers
              + " x "
              + width
              + " F32");
    }
    byte[] data = new byte[Math.toIntExact(h.getTotalBytes())];
    int at = 0;
    while (true) {
      c.getData().copyTo(data, at);
      at += c.getData().size();
      if (c.getLast()) {
        break;
      }
      c = chunks.next();
    }
    CRC32C crc = new CRC32C();
    crc.update(data, 0, at);
    if (at != data.length || (int) crc.getValue() != h.getChecksum()) {
      throw new IllegalStateException(target + " sent a block that fails its CRC32C or length");
    }
    return new LatentBlock(h.getTokens(), Tensors.f32Values(data));
  }

  @Override
  public void putBlocks(List<byte[]> hashes, List<LatentBlock> blocks) {
    List<BlockKey> keys = hashes.stream().map(GrpcKvCacheClient::hashKey).toList();
    put(keys, blocks);
  }

  @Override
  public void putTail(String requestId, LatentBlock tail) {
    put(List.of(tailKey(requestId)), List.of(tail));
  }

  private void put(List<BlockKey> keys, List<LatentBlock> blocks) {
    if (keys.isEmpty()) {
      return;
    }
    CompletableFuture<PutBlocksResponse> done = new CompletableFuture<>();
    StreamObserver<PutBlocksRequest> in =
        KvCacheServiceGrpc.newStub(channel)
            .withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS)
            .putBlocks(
                new StreamObserver<>() {
                  @Override
                  public void onNext(PutBlocksResponse r) {
                    done.complete(r);
                  }

                  @Override
                  public void onError(Throwable t) {
                    done.completeExceptionally(t);
                  }

                  @Override
                  public void onCompleted() {
                    done.complete(PutBlocksResponse.getDefaultInstance());
                  }
                });
    for (int i = 0; i < keys.size(); i++) {
      LatentBlock b = blocks.get(i);
      byte[] data = Tensors.f32Bytes(b.data());
      CRC32C crc = new CRC32C();
      crc.update(data);
      BlockHeader header =
          BlockHeader.newBuilder()
              .setModelId(modelId)
              .setDtype("F32")
              .setTokens(b.tokens())
              .setLayers(layers)
              .setWidth(width)
              .setTotalBytes(data.length)
              .setChecksum((int) crc.getValue())
              .build();
      for (int off = 0; off < data.length; off += CHUNK) {
        int n = Math.min(CHUNK, data.length - off);
        PutBlocksRequest.Builder c =
            PutBlocksRequest.newBuilder()
                .setKey(keys.get(i))
                .setOffset(off)
                // data is not touched after this, so the chunk can alias it.
                .setData(UnsafeByteOperations.unsafeWrap(data, off, n))
                .setLast(off + n == data.length);
        if (off == 0) {
          c.setHeader(header);
        }
        in.onNext(c.build());
      }
    }
    in.onCompleted();
    try {
      done.get(deadline.toMillis(), TimeUnit.MILLISECONDS);
    } catch (ExecutionException e) {
      throw Status.fromThrowable(e.getCause())
          .augmentDescription("kv-cache-service " + target + ": PutBlocks")
          .asRuntimeException();
    } catch (TimeoutException e) {
      throw Status.DEADLINE_EXCEEDED
          .withDescription(
              "kv-cache-service " + target + ": PutBlocks took longer than " + deadline)
          .asRuntimeException();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw Status.CANCELLED.withDescription("interrupted").asRuntimeException();
    }
  }

  @Override
  public void pin(String requestId, List<byte[]> hashes, Duration ttl) {
    PinRequest.Builder r =
        PinRequest.newBuilder()
            .setRequestId(requestId)
            .setTtlMs(ttl.toMillis())
            .addKeys(tailKey(requestId));
    hashes.forEach(h -> r.addKeys(hashKey(h)));
    blocking().pin(r.build());
  }

  @Override
  public void unpin(String requestId) {
    blocking().unpin(UnpinRequest.newBuilder().setRequestId(requestId).build());
  }

  @Override
  public void deleteTail(String requestId) {
    blocking().delete(DeleteRequest.newBuilder().addKeys(tailKey(requestId)).build());
  }

  private static BlockKey hashKey(byte[] hash) {
    return BlockKey.newBuilder().setHash(ByteString.copyFrom(hash)).build();
  }

  private static BlockKey tailKey(String requestId) {
    return BlockKey.newBuilder().setTailOfRequest(requestId).build();
  }

  @Override
  public void close() {
    channel.shutdownNow();
  }
}
