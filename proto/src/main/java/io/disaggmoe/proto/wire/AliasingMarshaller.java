package io.disaggmoe.proto.wire;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.Parser;
import com.google.protobuf.UnsafeByteOperations;
import io.grpc.KnownLength;
import io.grpc.MethodDescriptor.Marshaller;
import io.grpc.Status;
import io.grpc.protobuf.ProtoUtils;
import java.io.IOException;
import java.io.InputStream;

/**
 * Parses a message whose {@code bytes} fields alias the one buffer the message was read into,
 * instead of copying each field into an array of its own.
 *
 * <p>By default that buffer is per thread: a message parsed here is valid until the next message is
 * parsed on the same thread, so it is only for handlers that are done with a message when they
 * return (a server method on a direct executor reads its request before the next one is parsed).
 * {@link #owning} reads each message into an array of its own instead, so a message stays valid for
 * good: for receivers that keep the bytes (the KV block store). Writing is protobuf's own.
 */
public final class AliasingMarshaller<T extends Message> implements Marshaller<T> {
  private final Marshaller<T> writer;
  private final Parser<T> parser;
  // Null when every message gets an array of its own.
  private final ScratchBytes scratch;

  public AliasingMarshaller(T defaultInstance) {
    this(defaultInstance, new ScratchBytes());
  }

  @SuppressWarnings("unchecked")
  private AliasingMarshaller(T defaultInstance, ScratchBytes scratch) {
    this.writer = ProtoUtils.marshaller(defaultInstance);
    this.parser = (Parser<T>) defaultInstance.getParserForType();
    this.scratch = scratch;
  }

  /** Messages whose fields alias an array of their own: one copy off the wire, valid for good. */
  public static <T extends Message> AliasingMarshaller<T> owning(T defaultInstance) {
    return new AliasingMarshaller<>(defaultInstance, null);
  }

  private byte[] buffer(int size) {
    return scratch == null ? new byte[size] : scratch.take(size);
  }

  @Override
  public InputStream stream(T value) {
    return writer.stream(value);
  }

  @Override
  public T parse(InputStream stream) {
    try {
      byte[] buf;
      int size;
      if (stream instanceof KnownLength) {
        size = stream.available();
        buf = buffer(size);
        int n = stream.readNBytes(buf, 0, size);
        if (n != size) {
          throw new IOException("message ended after " + n + " of " + size + " bytes");
        }
      } else {
        buf = stream.readAllBytes();
        size = buf.length;
      }
      // Only input marked immutable is aliased; the marshaller's contract stands in for that.
      CodedInputStream in = UnsafeByteOperations.unsafeWrap(buf, 0, size).newCodedInput();
      in.enableAliasing(true);
      in.setSizeLimit(Integer.MAX_VALUE);
      return parser.parseFrom(in);
    } catch (InvalidProtocolBufferException e) {
      throw Status.INTERNAL
          .withDescription("invalid protobuf byte sequence")
          .withCause(e)
          .asRuntimeException();
    } catch (IOException e) {
      throw Status.INTERNAL
          .withDescription("reading a message failed")
          .withCause(e)
          .asRuntimeException();
    }
  }
}
