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

/**
 * The wire's bound for a transfer benchmark: the same bytes sent over one loopback TCP connection
 * (Java NIO, blocking channels) from one thread to another that reads them into a direct buffer and
 * discards them. No framing, no copies beyond the kernel's: nothing that moves bytes between two
 * processes on this host over TCP can beat it by much.
 */
final class LoopbackTcpStream {
  private static final int READ_BUFFER = 1 << 20;

  private LoopbackTcpStream() {}

  /** Seconds to send every payload {@code repeats} times, from the first write to the last read. */
  static double seconds(List<byte[]> payloads, int repeats) {
    long total = 0;
    for (byte[] p : payloads) {
      total += p.length;
    }
    long expected = total * repeats;
    try (ServerSocketChannel server = ServerSocketChannel.open()) {
      server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
      CompletableFuture<Long> received =
          CompletableFuture.supplyAsync(() -> drain(server, expected), Thread::startVirtualThread);
      try (SocketChannel out = SocketChannel.open(server.getLocalAddress())) {
        out.setOption(StandardSocketOptions.TCP_NODELAY, true);
        // Direct buffers of the payloads: a heap buffer would cost a copy into a temporary one.
        ByteBuffer[] direct = new ByteBuffer[payloads.size()];
        for (int i = 0; i < direct.length; i++) {
          direct[i] = ByteBuffer.allocateDirect(payloads.get(i).length).put(payloads.get(i));
        }
        long start = System.nanoTime();
        for (int r = 0; r < repeats; r++) {
          for (ByteBuffer b : direct) {
            b.clear();
            while (b.hasRemaining()) {
              out.write(b);
            }
          }
        }
        long got = received.join();
        if (got != expected) {
          throw new IllegalStateException("received " + got + " of " + expected + " bytes");
        }
        return (System.nanoTime() - start) / 1e9;
      }
    } catch (IOException e) {
      throw new UncheckedIOException("loopback TCP stream", e);
    }
  }

  private static long drain(ServerSocketChannel server, long expected) {
    try (SocketChannel in = server.accept()) {
      ByteBuffer buffer = ByteBuffer.allocateDirect(READ_BUFFER);
      long got = 0;
      while (got < expected) {
        buffer.clear();
        int n = in.read(buffer);
        if (n < 0) {
          break;
        }
        got += n;
      }
      return got;
    } catch (IOException e) {
      throw new UncheckedIOException("loopback TCP stream: receiver", e);
    }
  }
}
