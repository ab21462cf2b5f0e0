package io.disaggmoe.proto.wire;

import com.google.protobuf.MessageLite;
import io.grpc.Status;
import io.grpc.stub.CallStreamObserver;
import java.util.ArrayDeque;
import java.util.function.UnaryOperator;

/**
 * An outbound gRPC stream that writes only while its transport is ready. A message goes out at once
 * when the transport is ready and nothing waits before it; else it waits here, in order, and leaves
 * when the transport calls the on-ready handler. A peer that falls more than {@code limitBytes}
 * behind is cut off with RESOURCE_EXHAUSTED (and {@code onCutOff} runs), so a peer that stops
 * reading cannot make the sender buffer without end.
 *
 * <p>Senders never wait: whatever thread sends (a step loop, a pool's compute thread) hands the
 * message over and goes on. Server streams pass their observer at once; client streams must pass
 * theirs in {@code ClientResponseObserver.beforeStart}, where the on-ready handler may still be
 * set.
 */
public final class ReadyGatedStream<T extends MessageLite> {
  private final CallStreamObserver<T> out;
  private final long limitBytes;
  private final String peer;
  private final Runnable onCutOff;
  private final ArrayDeque<T> waiting = new ArrayDeque<>();
  private long waitingBytes;
  private boolean completeWhenDrained;
  private boolean closed;

  /**
   * @param peer names the reader in the status it gets when cut off ("the client", "expert pool
   *     h:p")
   */
  public ReadyGatedStream(
      CallStreamObserver<T> out, long limitBytes, String peer, Runnable onCutOff) {
    this.out = out;
    this.limitBytes = limitBytes;
    this.peer = peer;
    this.onCutOff = onCutOff;
    out.setOnReadyHandler(this::drain);
  }

  /** Sends or queues {@code message}; after the stream closed, drops it. */
  public void send(T message) {
    send(message, UnaryOperator.identity());
  }

  /**
   * Sends {@code message}, whose bytes may share memory its sender reuses once this returns (a
   * scratch array): when it must wait, {@code ownCopy(message)} waits instead, a copy that shares
   * nothing. gRPC serializes a message as it is sent, so one sent at once needs no copy.
   */
  public synchronized void send(T message, UnaryOperator<T> ownCopy) {
    if (closed) {
      return;
    }
    if (waiting.isEmpty() && out.isReady()) {
      out.onNext(message);
      return;
    }
    waiting.add(ownCopy.apply(message));
    waitingBytes += message.getSerializedSize();
    if (waitingBytes > limitBytes) {
      closed = true;
      waiting.clear();
      waitingBytes = 0;
      // Before the peer hears: once it has, the work it asked for is already being dropped.
      onCutOff.run();
      out.onError(
          Status.RESOURCE_EXHAUSTED
              .withDescription(
                  peer
                      + " reads slower than messages come: more than "
                      + limitBytes
                      + " bytes waiting to be sent; stream cut off")
              .asRuntimeException());
    }
  }

  /** Completes the stream once every queued message has gone out. */
  public synchronized void complete() {
    if (closed) {
      return;
    }
    if (waiting.isEmpty()) {
      closed = true;
      out.onCompleted();
    } else {
      completeWhenDrained = true;
    }
  }

  /** Ends the stream with {@code status} now, dropping what waits. */
  public synchronized void fail(Status status) {
    if (closed) {
      return;
    }
    closed = true;
    waiting.clear();
    waitingBytes = 0;
    out.onError(status.asRuntimeException());
  }

  private synchronized void drain() {
    while (!closed && !waiting.isEmpty() && out.isReady()) {
      T m = waiting.poll();
      waitingBytes -= m.getSerializedSize();
      out.onNext(m);
    }
    if (!closed && waiting.isEmpty() && completeWhenDrained) {
      closed = true;
      out.onCompleted();
    }
  }
}
