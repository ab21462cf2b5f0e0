package io.disaggmoe.cli;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.SynchronousQueue;

/**
 * The wire's bound for a transfer benchmark: the same bytes sent over one loopback TCP connection
 * (Java NIO, blocking channels) from one thread to another that reads them into a direct buffer and
 * discards them. No framing, no copies beyond the kernel's: nothing that moves bytes between two
 * processes on this host over TCP can beat it by much. The connection stays open, so passes can be
 * timed between the rounds of what is measured against it, under the same load.
 */
final class LoopbackTcpStream implements AutoCloseable {
  private static final int READ_BUFFER = 1 << 20;

  private final ServerSocketChannel server;
  private final SocketChannel out;
  private final ByteBuffer[] payloads;
  private final long passBytes;
  // The receiver's count of each pass, handed over when it has read all of it.
  private final SynchronousQueue<Long> received = new SynchronousQueue<>();
  private final CompletableFuture<Void> receiver;

  /** Connects a sender of {@code payloads} to a receiver on another thread. */
  LoopbackTcpStream(List<byte[]> payloads) {
    try {
      server = ServerSocketChannel.open();
      server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
      out = SocketChannel.open(server.getLocalAddress());
      out.setOption(StandardSocketOptions.TCP_NODELAY, true);
      SocketChannel in = server.accept();
      // Direct buffers of the payloads: a heap buffer would cost a copy into a temporary one.
      this.payloads = new ByteBuffer[payloads.size()];
      long total = 0;
      for (int i = 0; i < this.payloads.length; i++) {
        byte[] p = payloads.get(i);
        this.payloads[i] = ByteBuffer.allocateDirect(p.length).put(p);
        total += p.length;
      }
      passBytes = total;
      receiver =
          CompletableFuture.runAsync(() -> drain(in), r -> Thread.ofPlatform().daemon().start(r));
    } catch (IOException e) {
      throw new UncheckedIOException("loopback TCP stream", e);
    }
  }

  /** Seconds to send every payload once, from the first write to the last byte read. */
  double pass() {
    try {
      long start = System.nanoTime();
      for (ByteBuffer b : payloads) {
        b.clear();
        while (b.hasRemaining()) {
          out.write(b);
        }
      }
      long got = received.take();
      if (got != passBytes) {
        throw new IllegalStateException("received " + got + " of " + passBytes + " bytes");
      }
      return (System.nanoTime() - start) / 1e9;
    } catch (IOException e) {
      throw new UncheckedIOException("loopback TCP stream", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }

  private void drain(SocketChannel in) {
    try (in) {
      ByteBuffer buffer = ByteBuffer.allocateDirect(READ_BUFFER);
      long got = 0;
      while (true) {
        buffer.clear().limit((int) Math.min(READ_BUFFER, passBytes - got));
        int n = in.read(buffer);
        if (n < 0) {
          return;
        }
        got += n;
        if (got == passBytes) {
          received.put(got);
          got = 0;
        }
      }
    } catch (IOException e) {
      // Closed by close().
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  @Override
  public void close() throws IOException {
    out.close();
    server.close();
    receiver.join();
  }
}
