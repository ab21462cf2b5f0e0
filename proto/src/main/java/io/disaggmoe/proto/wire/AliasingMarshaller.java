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
 * Parses a message whose {@code bytes} fields alias a per-thread buffer instead of copying each
 * into an array of its own. A message parsed here is valid until the next message is parsed on the
 * same thread, so it is only for handlers that are done with a message when they return (a server
 * method on a direct executor reads its request before the next one is parsed). Writing is
 * protobuf's own.
 */
public final class AliasingMarshaller<T extends Message> implements Marshaller<T> {
  private final Marshaller<T> writer;
  private final Parser<T> parser;
  private final ScratchBytes scratch = new ScratchBytes();

  @SuppressWarnings("unchecked")
  public AliasingMarshaller(T defaultInstance) {
    this.writer = ProtoUtils.marshaller(defaultInstance);
    this.parser = (Parser<T>) defaultInstance.getParserForType();
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
        buf = scratch.take(size);
        int n = stream.readNBytes(buf, 0, size);
        if (n != size) {
          throw new IOException("message ended after " + n + " of " + size + " bytes");
        }
      } else {
        byte[] all = stream.readAllBytes();
        size = all.length;
        buf = scratch.take(size);
        System.arraycopy(all, 0, buf, 0, size);
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
