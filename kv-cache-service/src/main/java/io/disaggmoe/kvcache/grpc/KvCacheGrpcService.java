package io.disaggmoe.kvcache.grpc;

import com.google.protobuf.ByteString;
import io.disaggmoe.kvcache.core.BlockHeader;
import io.disaggmoe.kvcache.core.BlockName;
import io.disaggmoe.kvcache.core.InvalidBlockException;
import io.disaggmoe.kvcache.core.KvBlockStore;
import io.disaggmoe.kvcache.core.KvCacheStats;
import io.disaggmoe.kvcache.core.PrefixMatch;
import io.disaggmoe.kvcache.core.StoredBlock;
import io.disaggmoe.proto.v1.BlockChunk;
import io.disaggmoe.proto.v1.BlockKey;
import io.disaggmoe.proto.v1.DeleteRequest;
import io.disaggmoe.proto.v1.DeleteResponse;
import io.disaggmoe.proto.v1.GetBlocksRequest;
import io.disaggmoe.proto.v1.GetStatsRequest;
import io.disaggmoe.proto.v1.GetTransportRequest;
import io.disaggmoe.proto.v1.KvCacheServiceGrpc;
import io.disaggmoe.proto.v1.MatchPrefixRequest;
import io.disaggmoe.proto.v1.MatchPrefixResponse;
import io.disaggmoe.proto.v1.PinRequest;
import io.disaggmoe.proto.v1.PinResponse;
import io.disaggmoe.proto.v1.PutBlocksRequest;
import io.disaggmoe.proto.v1.PutBlocksResponse;
import io.disaggmoe.proto.v1.Transport;
import io.disaggmoe.proto.v1.UnpinRequest;
import io.disaggmoe.proto.v1.UnpinResponse;
import io.disaggmoe.proto.wire.GrpcStatuses;
import io.disaggmoe.proto.wire.KvCacheMethods;
import io.disaggmoe.proto.wire.ParseFailures;
import io.grpc.BindableService;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/** The gRPC face of a {@link KvBlockStore}: blocks move as chunks of at most {@link #CHUNK}. */
public final class KvCacheGrpcService implements KvCacheServiceGrpc.AsyncService, BindableService {
  /** Chunk size of GetBlocks; a PutBlocks chunk may have any size up to the message limit. */
  public static final int CHUNK = 1 << 20;

  private final KvBlockStore store;
  private final int bulkPort;

  /** A service without a bulk channel. */
  public KvCacheGrpcService(KvBlockStore store) {
    this(store, 0);
  }

  /** A service that names {@code bulkPort} as its bulk channel (0: none). */
  public KvCacheGrpcService(KvBlockStore store, int bulkPort) {
    this.store = store;
    this.bulkPort = bulkPort;
  }

  /** PutBlocks chunks are parsed so that their data aliases an array the store keeps. */
  @Override
  public ServerServiceDefinition bindService() {
    return ParseFailures.asInvalidArgument(
        KvCacheMethods.owningPuts(KvCacheServiceGrpc.bindService(this)));
  }

  @Override
  public void matchPrefix(MatchPrefixRequest r, StreamObserver<MatchPrefixResponse> out) {
    try {
      if (r.getModelId().isEmpty()) {
        throw new InvalidBlockException("model_id is empty");
      }
      int[] tokens = r.getTokenIdsList().stream().mapToInt(Integer::intValue).toArray();
      PrefixMatch m = store.match(r.getModelId(), r.getTenant(), tokens);
      MatchPrefixResponse.Builder b =
          MatchPrefixResponse.newBuilder()
              .setBlockTokens(m.blockTokens())
              .setMatchedTokens(m.matchedTokens());
      m.hashes().forEach(h -> b.addBlockHashes(ByteString.copyFrom(h)));
      out.onNext(b.build());
      out.onCompleted();
    } catch (RuntimeException e) {
      out.onError(GrpcStatuses.toStatus(e).asRuntimeException());
    }
  }

  @Override
  public StreamObserver<PutBlocksRequest> putBlocks(StreamObserver<PutBlocksResponse> out) {
    return new StreamObserver<>() {
      private BlockName name;
      private BlockHeader header;
      private ByteString data;
      private long total;
      private boolean durable;
      private int stored;
      private final List<CompletableFuture<Void>> synced = new ArrayList<>();
      private boolean failed;

      @Override
      public void onNext(PutBlocksRequest r) {
        if (failed) {
          return;
        }
        try {
          accept(r);
        } catch (RuntimeException e) {
          failed = true;
          out.onError(GrpcStatuses.toStatus(e).asRuntimeException());
        }
      }

      private void accept(PutBlocksRequest r) {
        if (name == null) {
          name = BlockMessages.name(r.getKey());
          if (!r.hasHeader()) {
            throw new InvalidBlockException(name + ": the first chunk carries no header");
          }
          header = BlockMessages.header(name, r.getHeader(), store.capacityBytes());
          total = header.dataBytes();
          data = ByteString.EMPTY;
          durable = r.getDurable();
        } else if (!BlockMessages.name(r.getKey()).equals(name)) {
          throw new InvalidBlockException(
              "a chunk of "
                  + BlockMessages.name(r.getKey())
                  + " arrived before the last chunk of "
                  + name);
        }
        long offset = r.getOffset();
        int n = r.getData().size();
        long received = data.size();
        if (offset != received || offset + n > total) {
          throw new InvalidBlockException(
              name
                  + ": chunk at offset "
                  + offset
                  + " with "
                  + n
                  + " bytes; expected offset "
                  + received
                  + " within "
                  + total
                  + " bytes");
        }
        // The chunk aliases the array its message arrived in (KvCacheMethods): joining chunks
        // copies nothing, and the store keeps these bytes.
        data = data.concat(r.getData());
        if (r.getLast()) {
          if (data.size() != total) {
            throw new InvalidBlockException(
                name + ": last chunk after " + data.size() + " of " + total + " bytes");
          }
          CompletableFuture<Void> put = store.put(name, new StoredBlock(header, data), durable);
          if (durable) {
            synced.add(put);
          }
          stored++;
          name = null;
          data = null;
        }
      }

      @Override
      public void onError(Throwable t) {
        // The sender went away; a block it had not finished is dropped.
      }

      @Override
      public void onCompleted() {
        if (failed) {
          return;
        }
        if (name != null) {
          out.onError(
              GrpcStatuses.toStatus(
                      new InvalidBlockException(name + ": the stream ended inside the block"))
                  .asRuntimeException());
          return;
        }
        // Durable blocks are acknowledged once their files are synced (the disk writer's group).
        CompletableFuture.allOf(synced.toArray(CompletableFuture[]::new))
            .whenComplete(
                (ok, err) -> {
                  if (err != null) {
                    out.onError(
                        Status.UNAVAILABLE
                            .withDescription("the disk tier failed to write a durable block")
                            .withCause(err)
                            .asRuntimeException());
                    return;
                  }
                  out.onNext(
                      PutBlocksResponse.newBuilder()
                          .setStored(stored)
                          .setDurable(synced.size())
                          .build());
                  out.onCompleted();
                });
      }
    };
  }

  /** Sends blocks chunk by chunk as the transport is ready, so a large get is not buffered. */
  @Override
  public void getBlocks(GetBlocksRequest r, StreamObserver<BlockChunk> plainOut) {
    ServerCallStreamObserver<BlockChunk> out = (ServerCallStreamObserver<BlockChunk>) plainOut;
    List<BlockName> names;
    try {
      names = r.getKeysList().stream().map(BlockMessages::name).toList();
    } catch (RuntimeException e) {
      out.onError(GrpcStatuses.toStatus(e).asRuntimeException());
      return;
    }
    Deque<BlockKey> keys = new ArrayDeque<>(r.getKeysList());
    Deque<BlockName> pending = new ArrayDeque<>(names);
    Runnable drain =
        new Runnable() {
          private StoredBlock block;
          private BlockKey key;
          private int offset;
          private boolean done;

          @Override
          public synchronized void run() {
            while (!done && out.isReady()) {
              if (block == null) {
                if (pending.isEmpty()) {
                  done = true;
                  out.onCompleted();
                  return;
                }
                key = keys.poll();
                BlockName name = pending.poll();
                var found = store.get(name);
                if (found.isEmpty()) {
                  out.onNext(BlockChunk.newBuilder().setKey(key).setMissing(true).build());
                  if (r.getUntilMissing()) {
                    pending.clear();
                  }
                  continue;
                }
                block = found.get();
                offset = 0;
              }
              int size = block.data().size();
              int n = Math.min(CHUNK, size - offset);
              BlockChunk.Builder c =
                  BlockChunk.newBuilder()
                      .setKey(key)
                      .setOffset(offset)
                      // The stored bytes are never modified, so they are sent without a copy.
                      .setData(block.data().substring(offset, offset + n))
                      .setLast(offset + n == size);
              if (offset == 0) {
                c.setHeader(BlockMessages.toProto(block.header()));
              }
              out.onNext(c.build());
              offset += n;
              if (offset == size) {
                block = null;
              }
            }
          }
        };
    // The default threshold (32 KiB) would make every 1 MiB chunk wait for the one before it.
    out.setOnReadyThreshold(4 * CHUNK);
    out.setOnReadyHandler(drain);
    drain.run();
  }

  @Override
  public void pin(PinRequest r, StreamObserver<PinResponse> out) {
    try {
      List<BlockName> names = r.getKeysList().stream().map(BlockMessages::name).toList();
      int pinned = store.pin(r.getRequestId(), names, r.getTtlMs());
      out.onNext(PinResponse.newBuilder().setPinned(pinned).build());
      out.onCompleted();
    } catch (RuntimeException e) {
      out.onError(GrpcStatuses.toStatus(e).asRuntimeException());
    }
  }

  @Override
  public void unpin(UnpinRequest r, StreamObserver<UnpinResponse> out) {
    store.unpin(r.getRequestId());
    out.onNext(UnpinResponse.getDefaultInstance());
    out.onCompleted();
  }

  @Override
  public void delete(DeleteRequest r, StreamObserver<DeleteResponse> out) {
    try {
      List<BlockName> names = r.getKeysList().stream().map(BlockMessages::name).toList();
      out.onNext(DeleteResponse.newBuilder().setDeleted(store.delete(names)).build());
      out.onCompleted();
    } catch (RuntimeException e) {
      out.onError(GrpcStatuses.toStatus(e).asRuntimeException());
    }
  }

  @Override
  public void getStats(GetStatsRequest r, StreamObserver<io.disaggmoe.proto.v1.KvCacheStats> out) {
    KvCacheStats s = store.stats();
    out.onNext(
        io.disaggmoe.proto.v1.KvCacheStats.newBuilder()
            .setCapacityBytes(s.capacityBytes())
            .setUsedBytes(s.usedBytes())
            .setPinnedBytes(s.pinnedBytes())
            .setBlocks(s.blocks())
            .setHits(s.hits())
            .setMisses(s.misses())
            .setEvictions(s.evictions())
            .setDiskBytes(s.diskBytes())
            .setCorruptBlocks(s.corruptBlocks())
            .setDiskCapacityBytes(s.diskCapacityBytes())
            .setSpills(s.spills())
            .setPromotions(s.promotions())
            .build());
    out.onCompleted();
  }

  @Override
  public void getTransport(GetTransportRequest r, StreamObserver<Transport> out) {
    out.onNext(Transport.newBuilder().setBulkPort(bulkPort).build());
    out.onCompleted();
  }
}
