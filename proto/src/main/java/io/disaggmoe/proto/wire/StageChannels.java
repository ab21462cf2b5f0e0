package io.disaggmoe.proto.wire;

import io.disaggmoe.proto.telemetry.StageTracing;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.util.concurrent.TimeUnit;

/**
 * Opens every channel from one stage to another: the one place where transport security, message
 * limits, flow-control windows, keep-alive and tracing are set, by what the channel carries.
 */
public final class StageChannels {
  /** What a channel carries, which decides its limits. */
  public enum Kind {
    /**
     * Requests, token streams and status polls; a prefill reply may carry a prompt's logits.
     * Callbacks only hand a message on, so they run on the transport thread (one hop less per
     * token).
     */
    CALLS(64 << 20, 0, true, true, false),
    /** KV blocks of megabytes: a window of several lets a transfer stream without stalls. */
    KV_BLOCKS(64 << 20, 16 << 20, false, true, true),
    /**
     * Expert dispatches and their partial sums: whole activations fit in the window, so no
     * WINDOW_UPDATE round trip per dispatch, and replies only complete a future. Each dispatch
     * carries its own trace context, so the stream needs no interceptor.
     */
    DISPATCH(Integer.MAX_VALUE, 32 << 20, true, false, true),
    /** Debug and benchmark calls whose replies hold logits of any size. */
    LARGE_REPLIES(Integer.MAX_VALUE, 0, false, true, false);

    final int maxInboundBytes;
    final int flowControlWindow;
    final boolean directExecutor;
    final boolean traced;
    final boolean tensorSockets;

    Kind(
        int maxInboundBytes,
        int flowControlWindow,
        boolean directExecutor,
        boolean traced,
        boolean tensorSockets) {
      this.maxInboundBytes = maxInboundBytes;
      this.flowControlWindow = flowControlWindow;
      this.directExecutor = directExecutor;
      this.traced = traced;
      this.tensorSockets = tensorSockets;
    }
  }

  private static final StageChannels PLAINTEXT = new StageChannels(TransportSecurity.plaintext());

  private final TransportSecurity security;

  public StageChannels(TransportSecurity security) {
    this.security = security;
  }

  /** Channels without TLS, for loopback runs and tests. */
  public static StageChannels plaintext() {
    return PLAINTEXT;
  }

  public TransportSecurity security() {
    return security;
  }

  /** How long a {@link Kind#CALLS} connection with calls open may read nothing before a ping. */
  public static final long KEEP_ALIVE_SECONDS = 10;

  /** How long a ping may go unanswered before the connection is given up and its calls fail. */
  public static final long KEEP_ALIVE_TIMEOUT_SECONDS = 5;

  /** A channel to {@code target} ({@code host:port} or a gRPC target URI). */
  public ManagedChannel open(String target, Kind kind) {
    NettyChannelBuilder b = security.secure(NettyChannelBuilder.forTarget(target));
    if (kind.tensorSockets) {
      TensorSockets.tune(b);
    }
    b.maxInboundMessageSize(kind.maxInboundBytes);
    if (kind == Kind.CALLS) {
      // A peer that hangs or a link that stops carrying bytes (no reset, no FIN) must show within
      // 15 s, so that a token stream on it moves to another instance: a call on such a link
      // fails UNAVAILABLE when a ping goes unanswered. Stage servers permit pings this often
      // (StageServerConfiguration); pings go only while calls are open.
      b.keepAliveTime(KEEP_ALIVE_SECONDS, TimeUnit.SECONDS)
          .keepAliveTimeout(KEEP_ALIVE_TIMEOUT_SECONDS, TimeUnit.SECONDS);
    }
    if (kind.flowControlWindow > 0) {
      b.flowControlWindow(kind.flowControlWindow);
    }
    if (kind.directExecutor) {
      b.directExecutor();
    }
    if (kind.traced) {
      b.intercept(StageTracing.clientInterceptor());
    }
    return b.build();
  }
}
