package io.disaggmoe.kvcache.bulk;

import io.disaggmoe.kvcache.core.KvBlockStore;
import io.disaggmoe.proto.wire.BulkFrames;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The bulk block channel of a {@link KvBlockStore}: puts and gets over plain TCP connections, block
 * data as raw bytes between small framed messages (kv_cache.proto, {@code BulkRequest}). gRPC stays
 * the control path and names this channel's port ({@code GetTransport}); blocks move here without
 * HTTP/2's 16 KiB frames and per-message copies. One thread serves each connection.
 */
public final class KvBulkServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(KvBulkServer.class);

  private final KvBlockStore store;
  private final ServerSocketChannel listener;
  // Platform threads: blocking reads into heap arrays go through the thread's cached direct buffer.
  private final ExecutorService sessions =
      Executors.newCachedThreadPool(Thread.ofPlatform().daemon().name("kv-bulk-", 0).factory());
  private final Set<SocketChannel> open = ConcurrentHashMap.newKeySet();
  private final LongAdder received = new LongAdder();
  private final LongAdder sent = new LongAdder();

  private KvBulkServer(KvBlockStore store, ServerSocketChannel listener) {
    this.store = store;
    this.listener = listener;
  }

  /** Listens on {@code host:port} (0: any free port) and serves until closed. */
  public static KvBulkServer start(KvBlockStore store, String host, int port) throws IOException {
    ServerSocketChannel listener = ServerSocketChannel.open();
    listener.bind(new InetSocketAddress(host, port));
    KvBulkServer server = new KvBulkServer(store, listener);
    Thread.ofPlatform().daemon().name("kv-bulk-accept").start(server::accept);
    return server;
  }

  /** The port it listens on. */
  public int port() {
    return listener.socket().getLocalPort();
  }

  /** Block data bytes stored from puts on this channel. */
  public long receivedBytes() {
    return received.sum();
  }

  /** Block data bytes sent for gets on this channel. */
  public long sentBytes() {
    return sent.sum();
  }

  private void accept() {
    while (listener.isOpen()) {
      try {
        SocketChannel ch = BulkFrames.tune(listener.accept());
        open.add(ch);
        sessions.execute(() -> serve(ch));
      } catch (ClosedChannelException e) {
        return;
      } catch (IOException e) {
        log.warn("bulk channel: accept failed: {}", e.toString());
      }
    }
  }

  private void serve(SocketChannel ch) {
    try (ch) {
      new BulkSession(store, ch, received, sent).run();
    } catch (IOException e) {
      // The client went away or broke the protocol; its unfinished put is dropped.
      log.debug("bulk channel: {} closed: {}", ch, e.toString());
    } finally {
      open.remove(ch);
    }
  }

  /** Stops listening and closes every connection; operations in flight fail on their clients. */
  @Override
  public void close() throws IOException {
    listener.close();
    for (SocketChannel ch : open) {
      ch.close();
    }
    sessions.shutdown();
  }
}
