package io.disaggmoe.proto.wire;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageLite;
import com.google.protobuf.Parser;
import java.io.EOFException;
import java.io.IOException;
import java.net.ProtocolException;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;

/**
 * Framing of the KV bulk channel (see {@code BulkRequest} in kv_cache.proto) over a blocking {@link
 * SocketChannel}: each message is a 4-byte big-endian length and the message; raw data follows
 * where the protocol says.
 */
public final class BulkFrames {
  /** The largest message either side reads; data never travels inside one. */
  public static final int MAX_MESSAGE = 16 << 20;

  /** Socket buffers that hold several 1 MiB writes; the kernel caps them at its maximum. */
  private static final int SOCKET_BUFFER = 4 << 20;

  private BulkFrames() {}

  /** Settings for a bulk connection's socket, on either side. */
  public static SocketChannel tune(SocketChannel ch) throws IOException {
    ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
    ch.setOption(StandardSocketOptions.SO_SNDBUF, SOCKET_BUFFER);
    ch.setOption(StandardSocketOptions.SO_RCVBUF, SOCKET_BUFFER);
    return ch;
  }

  /** Writes {@code message} framed, then every remaining byte of {@code data}, in one gather. */
  public static void write(SocketChannel ch, MessageLite message, ByteBuffer... data)
      throws IOException {
    int size = message.getSerializedSize();
    byte[] framed = new byte[4 + size];
    ByteBuffer.wrap(framed).putInt(size);
    message.writeTo(com.google.protobuf.CodedOutputStream.newInstance(framed, 4, size));
    ByteBuffer[] all = new ByteBuffer[1 + data.length];
    all[0] = ByteBuffer.wrap(framed);
    System.arraycopy(data, 0, all, 1, data.length);
    long left = size + 4L;
    for (ByteBuffer d : data) {
      left += d.remaining();
    }
    while (left > 0) {
      left -= ch.write(all);
    }
  }

  /**
   * The next framed message, or null when the peer closed the connection between messages.
   *
   * @throws ProtocolException when the length is beyond {@link #MAX_MESSAGE} or the bytes do not
   *     parse
   */
  public static <T> T read(SocketChannel ch, Parser<T> parser) throws IOException {
    ByteBuffer length = ByteBuffer.allocate(4);
    while (length.hasRemaining()) {
      if (ch.read(length) < 0) {
        if (length.position() == 0) {
          return null;
        }
        throw new EOFException("the connection closed inside a message's length");
      }
    }
    int size = length.getInt(0);
    if (size < 0 || size > MAX_MESSAGE) {
      throw new ProtocolException(
          "a message of " + Integer.toUnsignedString(size) + " bytes; at most " + MAX_MESSAGE);
    }
    ByteBuffer body = ByteBuffer.allocate(size);
    readFully(ch, body);
    try {
      return parser.parseFrom(body.array());
    } catch (InvalidProtocolBufferException e) {
      throw new ProtocolException("a message that does not parse: " + e.getMessage());
    }
  }

  /** Fills {@code b} from the channel. */
  public static void readFully(SocketChannel ch, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      if (ch.read(b) < 0) {
        throw new EOFException("the connection closed with " + b.remaining() + " bytes to come");
      }
    }
  }

  /** Reads and drops {@code n} bytes. */
  public static void skip(SocketChannel ch, long n) throws IOException {
    ByteBuffer sink = ByteBuffer.allocate((int) Math.min(n, 1 << 16));
    while (n > 0) {
      sink.clear().limit((int) Math.min(n, sink.capacity()));
      readFully(ch, sink);
      n -= sink.limit();
    }
  }
}
