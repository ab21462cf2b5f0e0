package io.disaggmoe.attention.grpc;

import io.disaggmoe.proto.v1.DecodeResponse;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import java.util.ArrayDeque;

/**
 * The tokens of one Decode stream on their way to its client. The step thread never waits on a
 * client: a token goes out at once while the transport is ready, else it waits here and leaves when
 * the transport says it is ready again. A client that falls more than {@code limitBytes} behind is
 * cut off with RESOURCE_EXHAUSTED and its request cancelled, so a reader that stops reading cannot
 * make the instance buffer without end.
 */
final class DecodeReplies {
  /** Bytes of replies a stream may have waiting: thousands of tokens, or a few with logits. */
  static final long LIMIT_BYTES = 64L << 20;

  private final ServerCallStreamObserver<DecodeResponse> out;
  private final Runnable cancelRequest;
  private final long limitBytes;
  private final ArrayDeque<DecodeResponse> waiting = new ArrayDeque<>();
  private long waitingBytes;
  private boolean completeWhenDrained;
  private boolean closed;

  DecodeReplies(
      ServerCallStreamObserver<DecodeResponse> out, Runnable cancelRequest, long limitBytes) {
    this.out = out;
    this.cancelRequest = cancelRequest;
    this.limitBytes = limitBytes;
    out.setOnReadyHandler(this::drain);
  }

  synchronized void send(DecodeResponse r) {
    if (closed) {
      return;
    }
    if (waiting.isEmpty() && out.isReady()) {
      out.onNext(r);
      return;
    }
    waiting.add(r);
    waitingBytes += r.getSerializedSize();
    if (waitingBytes > limitBytes) {
      closed = true;
      waiting.clear();
      cancelRequest.run();
      out.onError(
          Status.RESOURCE_EXHAUSTED
              .withDescription(
                  "the client reads slower than its tokens come: more than "
                      + limitBytes
                      + " bytes of replies waiting; request cancelled")
              .asRuntimeException());
    }
  }

  synchronized void complete() {
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

  synchronized void fail(Status status) {
    if (closed) {
      return;
    }
    closed = true;
    waiting.clear();
    out.onError(status.asRuntimeException());
  }

  private synchronized void drain() {
    while (!closed && !waiting.isEmpty() && out.isReady()) {
      DecodeResponse r = waiting.poll();
      waitingBytes -= r.getSerializedSize();
      out.onNext(r);
    }
    if (!closed && waiting.isEmpty() && completeWhenDrained) {
      closed = true;
      out.onCompleted();
    }
  }
}
