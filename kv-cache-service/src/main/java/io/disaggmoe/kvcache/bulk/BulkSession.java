package io.disaggmoe.kvcache.bulk;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import io.disaggmoe.kvcache.core.BlockHeader;
import io.disaggmoe.kvcache.core.BlockName;
import io.disaggmoe.kvcache.core.InvalidBlockException;
import io.disaggmoe.kvcache.core.KvBlockStore;
import io.disaggmoe.kvcache.core.StoredBlock;
import io.disaggmoe.kvcache.grpc.BlockMessages;
import io.disaggmoe.proto.telemetry.StageTracing;
import io.disaggmoe.proto.v1.BlockChunk;
import io.disaggmoe.proto.v1.BlockKey;
import io.disaggmoe.proto.v1.BulkError;
import io.disaggmoe.proto.v1.BulkReply;
import io.disaggmoe.proto.v1.BulkRequest;
import io.disaggmoe.proto.v1.GetBlocksRequest;
import io.disaggmoe.proto.v1.PinRequest;
import io.disaggmoe.proto.v1.PinResponse;
import io.disaggmoe.proto.v1.PutBlocksRequest;
import io.disaggmoe.proto.v1.PutBlocksResponse;
import io.disaggmoe.proto.wire.BulkFrames;
import io.disaggmoe.proto.wire.GrpcStatuses;
import io.grpc.Status;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import java.io.IOException;
import java.net.ProtocolException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.LongAdder;

/** One bulk connection: operations one after another until the client closes it. */
final class BulkSession {
  private static final int PIECE = 4 << 20;

  private final KvBlockStore store;
  private final SocketChannel ch;
  private final LongAdder received;
  private final LongAdder sent;

  BulkSession(KvBlockStore store, SocketChannel ch, LongAdder received, LongAdder sent) {
    this.store = store;
    this.ch = ch;
    this.received = received;
    this.sent = sent;
  }

  void run() throws IOException {
    BulkRequest r;
    while ((r = BulkFrames.read(ch, BulkRequest.parser())) != null) {
      if (r.getOpCase() == BulkRequest.OpCase.OP_NOT_SET) {
        reply(failed(Status.INVALID_ARGUMENT, "a request that names no operation"));
        return;
      }
      Span span =
          StageTracing.startFromMessage(
              "KvBulk/" + r.getOpCase().name().toLowerCase(Locale.ROOT),
              SpanKind.SERVER,
              r.getTraceparent());
      try {
        switch (r.getOpCase()) {
          case PUT -> put(r.getPut());
          case GET -> get(r.getGet());
          case PIN -> pin(r.getPin());
          case COMMIT -> reply(failed(Status.INVALID_ARGUMENT, "a commit with no put before it"));
          case OP_NOT_SET -> throw new AssertionError("handled above");
        }
      } finally {
        span.end();
      }
    }
  }

  /**
   * Blocks until the commit; each one's data is read into an array the store keeps. After a failure
   * the rest are read and dropped, so the connection stays in step, and the commit is answered with
   * the first failure.
   */
  private void put(PutBlocksRequest first) throws IOException {
    List<CompletableFuture<Void>> synced = new ArrayList<>();
    int stored = 0;
    BulkError failure = null;
    PutBlocksRequest p = first;
    while (true) {
      long total = p.getHeader().getTotalBytes();
      if (total < 0 || total > BlockMessages.MAX_BLOCK_BYTES) {
        // The length itself cannot be trusted: nothing after it can be read in step.
        reply(failed(Status.INVALID_ARGUMENT, "a block of " + total + " bytes; at most 2 GiB"));
        throw new ProtocolException("block length " + total);
      }
      if (failure != null) {
        BulkFrames.skip(ch, total);
      } else {
        boolean read = false;
        try {
          BlockName name = BlockMessages.name(p.getKey());
          if (!p.hasHeader()) {
            throw new InvalidBlockException(name + ": a put carries no header");
          }
          BlockHeader header = BlockMessages.header(name, p.getHeader(), store.capacityBytes());
          ByteString data = receive(total);
          read = true;
          CompletableFuture<Void> put =
              store.put(name, new StoredBlock(header, data), p.getDurable());
          if (p.getDurable()) {
            synced.add(put);
          }
          received.add(total);
          stored++;
        } catch (RuntimeException e) {
          failure = error(GrpcStatuses.toStatus(e));
          if (!read) {
            BulkFrames.skip(ch, total);
          }
        }
      }
      BulkRequest next = BulkFrames.read(ch, BulkRequest.parser());
      if (next == null) {
        throw new ProtocolException("the connection closed before the commit");
      }
      if (next.hasCommit()) {
        break;
      }
      if (!next.hasPut()) {
        reply(failed(Status.INVALID_ARGUMENT, "a put interrupted by " + next.getOpCase()));
        throw new ProtocolException("put interrupted");
      }
      p = next.getPut();
    }
    if (failure != null) {
      reply(BulkReply.newBuilder().setError(failure).build());
      return;
    }
    try {
      CompletableFuture.allOf(synced.toArray(CompletableFuture[]::new)).get();
    } catch (ExecutionException e) {
      reply(failed(Status.UNAVAILABLE, "the disk tier failed to write a durable block"));
      return;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while waiting for the disk tier", e);
    }
    reply(
        BulkReply.newBuilder()
            .setPut(PutBlocksResponse.newBuilder().setStored(stored).setDurable(synced.size()))
            .build());
  }

  private void pin(PinRequest r) throws IOException {
    try {
      List<BlockName> names = r.getKeysList().stream().map(BlockMessages::name).toList();
      int pinned = store.pin(r.getRequestId(), names, r.getTtlMs());
      reply(BulkReply.newBuilder().setPin(PinResponse.newBuilder().setPinned(pinned)).build());
    } catch (RuntimeException e) {
      reply(failed(GrpcStatuses.toStatus(e)));
    }
  }

  private void get(GetBlocksRequest r) throws IOException {
    List<BlockName> names;
    try {
      names = r.getKeysList().stream().map(BlockMessages::name).toList();
    } catch (RuntimeException e) {
      reply(failed(GrpcStatuses.toStatus(e)));
      return;
    }
    for (int i = 0; i < names.size(); i++) {
      BlockKey key = r.getKeys(i);
      Optional<StoredBlock> found = store.get(names.get(i));
      if (found.isEmpty()) {
        reply(block(BlockChunk.newBuilder().setKey(key).setMissing(true)));
        if (r.getUntilMissing()) {
          return;
        }
        continue;
      }
      StoredBlock b = found.get();
      // Counted as it leaves, before its reader could look at the count.
      sent.add(b.data().size());
      BulkFrames.write(
          ch,
          block(BlockChunk.newBuilder().setKey(key).setHeader(BlockMessages.toProto(b.header()))),
          // The stored bytes are never modified: written from where they rest.
          b.data().asReadOnlyByteBufferList().toArray(ByteBuffer[]::new));
    }
  }

  /**
   * {@code total} bytes of data in arrays of at most {@link #PIECE}, joined without a copy: what is
   * allocated never runs ahead of what arrived by more than one piece, whatever a header claims.
   */
  private ByteString receive(long total) throws IOException {
    ByteString data = ByteString.EMPTY;
    for (long left = total; left > 0; ) {
      byte[] piece = new byte[(int) Math.min(PIECE, left)];
      BulkFrames.readFully(ch, ByteBuffer.wrap(piece));
      data = data.concat(UnsafeByteOperations.unsafeWrap(piece));
      left -= piece.length;
    }
    return data;
  }

  private static BulkReply block(BlockChunk.Builder b) {
    return BulkReply.newBuilder().setBlock(b).build();
  }

  private static BulkError error(Status s) {
    return BulkError.newBuilder()
        .setCode(s.getCode().value())
        .setMessage(String.valueOf(s.getDescription()))
        .build();
  }

  private static BulkReply failed(Status s) {
    return BulkReply.newBuilder().setError(error(s)).build();
  }

  private static BulkReply failed(Status code, String message) {
    return failed(code.withDescription(message));
  }

  private void reply(BulkReply r) throws IOException {
    BulkFrames.write(ch, r);
  }
}
