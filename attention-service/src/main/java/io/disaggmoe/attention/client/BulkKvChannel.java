package io.disaggmoe.attention.client;

import io.disaggmoe.proto.telemetry.StageTracing;
import io.disaggmoe.proto.v1.BlockChunk;
import io.disaggmoe.proto.v1.BlockKey;
import io.disaggmoe.proto.v1.BulkCommit;
import io.disaggmoe.proto.v1.BulkReply;
import io.disaggmoe.proto.v1.BulkRequest;
import io.disaggmoe.proto.v1.GetBlocksRequest;
import io.disaggmoe.proto.v1.PinRequest;
import io.disaggmoe.proto.v1.PutBlocksRequest;
import io.disaggmoe.proto.wire.BulkFrames;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.context.Scope;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.zip.CRC32C;

/**
 * Puts and gets over kv-cache-service's bulk channel (kv_cache.proto, {@code BulkRequest}): one
 * plain TCP connection per operation in flight, kept for the next one; each block is encoded into
 * the connection's direct buffer and written from there, and read back into it before it becomes
 * floats, so its bytes cross no other buffer on this side. Failures come as the gRPC statuses the
 * same failure gets over gRPC.
 */
final class BulkKvChannel implements AutoCloseable {
  private static final ScheduledExecutorService DEADLINES =
      Executors.newSingleThreadScheduledExecutor(
          Thread.ofPlatform().daemon().name("kv-bulk-deadline").factory());

  /** The channel's port does not answer: the caller asks gRPC where it is now, or uses gRPC. */
  static final class UnreachableException extends Exception {
    UnreachableException(IOException cause) {
      super(cause);
    }
  }

  /**
   * Span names of bulk operations, on both sides: {@code KvBulk/put}, {@code /get}, {@code /pin}.
   */
  static final String SPAN_PREFIX = "KvBulk/";

  private final InetSocketAddress address;
  private final BlockShape shape;
  private final Duration deadline;
  private final ConcurrentLinkedDeque<Connection> idle = new ConcurrentLinkedDeque<>();
  private volatile boolean closed;

  BulkKvChannel(InetSocketAddress address, BlockShape shape, Duration deadline) {
    this.address = address;
    this.shape = shape;
    this.deadline = deadline;
  }

  InetSocketAddress address() {
    return address;
  }

  /** Stores the blocks; they are stored when this returns. */
  void put(List<BlockKey> keys, List<LatentBlock> blocks) throws UnreachableException {
    call(
        "put",
        c -> {
          for (int i = 0; i < keys.size(); i++) {
            LatentBlock b = blocks.get(i);
            ByteBuffer data = c.buffer(shape.bytes(b.tokens()));
            shape.dtype().encode(b.data(), data);
            data.flip();
            CRC32C crc = new CRC32C();
            crc.update(data.duplicate());
            PutBlocksRequest header =
                PutBlocksRequest.newBuilder()
                    .setKey(keys.get(i))
                    .setHeader(shape.header(b.tokens(), (int) crc.getValue()))
                    .build();
            BulkFrames.write(c.ch, traced(i == 0).setPut(header).build(), data);
          }
          BulkFrames.write(
              c.ch, BulkRequest.newBuilder().setCommit(BulkCommit.getDefaultInstance()).build());
          BulkReply r = c.reply();
          if (!r.hasPut()) {
            throw new IOException("a put answered with " + r.getReplyCase());
          }
          return null;
        });
  }

  /** Pins as {@code KvCacheService.Pin} does. */
  void pin(PinRequest request) throws UnreachableException {
    call(
        "pin",
        c -> {
          BulkFrames.write(c.ch, traced(true).setPin(request).build());
          BulkReply r = c.reply();
          if (!r.hasPin()) {
            throw new IOException("a pin answered with " + r.getReplyCase());
          }
          return null;
        });
  }

  /** The requested blocks in order, up to the first missing one. */
  List<LatentBlock> getUntilMissing(List<BlockKey> keys) throws UnreachableException {
    GetBlocksRequest request =
        GetBlocksRequest.newBuilder().addAllKeys(keys).setUntilMissing(true).build();
    return call(
        "get",
        c -> {
          BulkFrames.write(c.ch, traced(true).setGet(request).build());
          List<LatentBlock> out = new ArrayList<>();
          while (out.size() < keys.size()) {
            BulkReply r = c.reply();
            if (!r.hasBlock()) {
              throw new IOException("a get answered with " + r.getReplyCase());
            }
            BlockChunk b = r.getBlock();
            if (b.getMissing()) {
              break;
            }
            out.add(read(c, b));
          }
          return out;
        });
  }

  private LatentBlock read(Connection c, BlockChunk b) throws IOException {
    KvDtype got = shape.check(b.getHeader());
    ByteBuffer data = c.buffer(Math.toIntExact(b.getHeader().getTotalBytes()));
    BulkFrames.readFully(c.ch, data);
    data.flip();
    CRC32C crc = new CRC32C();
    crc.update(data.duplicate());
    if ((int) crc.getValue() != b.getHeader().getChecksum()) {
      throw new IllegalStateException(shape.target() + " sent a block that fails its CRC32C");
    }
    float[] values = new float[data.remaining() / got.bytesPerValue()];
    got.decode(data, values, 0);
    return new LatentBlock(b.getHeader().getTokens(), values);
  }

  private interface Operation<T> {
    T run(Connection c) throws IOException;
  }

  /**
   * Runs one operation on an idle connection, or a new one, within the deadline. A kept connection
   * may have outlived its server: when one fails before any reply, the rest are dropped and the
   * operation (idempotent: blocks are named by content or replace a request's tail) runs once more
   * on a new connection.
   */
  private <T> T call(String op, Operation<T> operation) throws UnreachableException {
    Span span =
        StageTracing.tracer()
            .spanBuilder(SPAN_PREFIX + op)
            .setSpanKind(SpanKind.CLIENT)
            .startSpan();
    try (Scope scope = span.makeCurrent()) {
      return callOnce(op, operation);
    } catch (RuntimeException | UnreachableException e) {
      span.setStatus(StatusCode.ERROR, e.toString());
      throw e;
    } finally {
      span.end();
    }
  }

  /** A request builder carrying the current trace context when {@code first} of its operation. */
  private static BulkRequest.Builder traced(boolean first) {
    BulkRequest.Builder b = BulkRequest.newBuilder();
    return first ? b.setTraceparent(StageTracing.traceparent()) : b;
  }

  private <T> T callOnce(String op, Operation<T> operation) throws UnreachableException {
    Connection c = idle.poll();
    if (c != null) {
      try {
        return attempt(op, operation, c);
      } catch (StaleException stale) {
        for (Connection other; (other = idle.poll()) != null; ) {
          other.close();
        }
      }
    }
    try {
      return attempt(op, operation, open());
    } catch (StaleException e) {
      throw unavailable(op, e.getCause());
    }
  }

  private <T> T attempt(String op, Operation<T> operation, Connection c) throws StaleException {
    AtomicBoolean expired = new AtomicBoolean();
    ScheduledFuture<?> timer =
        DEADLINES.schedule(
            () -> {
              expired.set(true);
              c.close();
            },
            deadline.toNanos(),
            TimeUnit.NANOSECONDS);
    boolean keep = false;
    c.replied = false;
    try {
      T result = operation.run(c);
      keep = true;
      return result;
    } catch (IOException e) {
      if (expired.get()) {
        throw Status.DEADLINE_EXCEEDED
            .withDescription(
                "kv-cache-service "
                    + shape.target()
                    + ": bulk "
                    + op
                    + " took longer than "
                    + deadline)
            .asRuntimeException();
      }
      if (!c.replied) {
        throw new StaleException(e);
      }
      throw unavailable(op, e);
    } finally {
      timer.cancel(false);
      if (keep && !closed) {
        idle.push(c);
      } else {
        c.close();
      }
    }
  }

  private StatusRuntimeException unavailable(String op, Throwable cause) {
    return Status.UNAVAILABLE
        .withDescription(
            "kv-cache-service " + shape.target() + ": bulk " + op + " via " + address + " failed")
        .withCause(cause)
        .asRuntimeException();
  }

  private Connection open() throws UnreachableException {
    try {
      SocketChannel ch = SocketChannel.open();
      try {
        ch.socket().connect(address, (int) Math.min(deadline.toMillis(), 5_000));
        return new Connection(BulkFrames.tune(ch));
      } catch (IOException e) {
        ch.close();
        throw e;
      }
    } catch (IOException e) {
      throw new UnreachableException(e);
    }
  }

  /** An IOException on a connection that had not answered this operation at all. */
  private static final class StaleException extends Exception {
    StaleException(IOException cause) {
      super(cause);
    }
  }

  /** One connection and the direct buffer its blocks pass through. */
  private final class Connection {
    final SocketChannel ch;
    ByteBuffer buffer = ByteBuffer.allocateDirect(0);
    boolean replied;

    Connection(SocketChannel ch) {
      this.ch = ch;
    }

    /** The buffer cleared and limited to {@code bytes}, grown first if needed. */
    ByteBuffer buffer(int bytes) {
      if (buffer.capacity() < bytes) {
        buffer = ByteBuffer.allocateDirect(bytes);
      }
      return buffer.clear().limit(bytes);
    }

    /** The next reply; a BulkError becomes the status it names. */
    BulkReply reply() throws IOException {
      BulkReply r = BulkFrames.read(ch, BulkReply.parser());
      if (r == null) {
        throw new EOFException("the service closed the connection");
      }
      replied = true;
      if (r.hasError()) {
        throw Status.fromCodeValue(r.getError().getCode())
            .withDescription(
                "kv-cache-service " + shape.target() + ": " + r.getError().getMessage())
            .asRuntimeException();
      }
      return r;
    }

    void close() {
      try {
        ch.close();
      } catch (IOException e) {
        // Nothing is left to do with a connection that will not close.
      }
    }
  }

  @Override
  public void close() {
    closed = true;
    for (Connection c; (c = idle.poll()) != null; ) {
      c.close();
    }
  }
}
