package io.disaggmoe.cli;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;
import org.netcrusher.core.reactor.NioReactor;
import org.netcrusher.core.throttle.Throttler;
import org.netcrusher.tcp.TcpCrusher;
import org.netcrusher.tcp.TcpCrusherBuilder;

/**
 * A link the chaos suite can disturb: a NetCrusher TCP proxy on a loopback port of its own in front
 * of one service, which that service advertises as its address ({@code --advertised-port}), so that
 * every caller reaches it through the proxy. The link can be delayed (every chunk held back, in
 * both directions), frozen (connections stay open and carry nothing, as a peer that hangs or a
 * partition that drops packets) or cut (every connection closed and new ones refused), and then
 * restored.
 */
final class ChaosLink implements AutoCloseable {
  private final NioReactor reactor;
  private final int port;
  private TcpCrusher crusher;
  private volatile long delayNanos;
  private volatile long jitterNanos;
  private volatile long lastCarriedNanos;

  private ChaosLink(NioReactor reactor, int port) {
    this.reactor = reactor;
    this.port = port;
  }

  /** A link on a free loopback port, not yet connected to its service. */
  static ChaosLink reserve() throws IOException {
    int port;
    try (ServerSocket free = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      port = free.getLocalPort();
    }
    return new ChaosLink(new NioReactor(), port);
  }

  /** The port callers reach the service at. */
  int port() {
    return port;
  }

  /** Starts forwarding this link's port to the service at {@code target} ({@code host:port}). */
  synchronized void connect(String target) {
    int colon = target.lastIndexOf(':');
    Throttler delay = this::delayOf;
    crusher =
        TcpCrusherBuilder.builder()
            .withReactor(reactor)
            .withBindAddress("127.0.0.1", port)
            .withConnectAddress(
                target.substring(0, colon), Integer.parseInt(target.substring(colon + 1)))
            .withIncomingThrottlerFactory(a -> delay)
            .withOutgoingThrottlerFactory(a -> delay)
            .withTcpNoDelay(true)
            .buildAndOpen();
  }

  private long delayOf(ByteBuffer chunk) {
    lastCarriedNanos = System.nanoTime();
    long d = delayNanos;
    long j = jitterNanos;
    if (d == 0) {
      return Throttler.NO_DELAY_NS;
    }
    return d + (j == 0 ? 0 : ThreadLocalRandom.current().nextLong(-j, j + 1));
  }

  /**
   * Returns once the link has carried bytes within the last 50 ms (a token stream is crossing it),
   * or after {@code atMost}: a fault then finds requests in flight on the link.
   */
  void awaitTraffic(Duration atMost) throws InterruptedException {
    long until = System.nanoTime() + atMost.toNanos();
    while (System.nanoTime() - lastCarriedNanos > 50_000_000L && System.nanoTime() < until) {
      Thread.sleep(5);
    }
  }

  /** Holds every chunk back by {@code delay} plus or minus {@code jitter}. */
  void delay(Duration delay, Duration jitter) {
    jitterNanos = jitter.toNanos();
    delayNanos = delay.toNanos();
  }

  /** Connections stay open and carry nothing; new ones are not accepted. */
  synchronized void freeze() {
    crusher.freeze();
  }

  /** Every connection closed and new ones refused, as a partition that resets them. */
  synchronized void cut() {
    crusher.close();
  }

  /** Ends whichever fault the link has: no delay, carrying bytes, accepting connections. */
  synchronized void restore() {
    delay(Duration.ZERO, Duration.ZERO);
    if (!crusher.isOpen()) {
      crusher.open();
    } else if (crusher.isFrozen()) {
      crusher.unfreeze();
    }
  }

  @Override
  public synchronized void close() {
    if (crusher != null) {
      crusher.close();
    }
    reactor.close();
  }
}
