package io.disaggmoe.proto.wire;

import io.grpc.ForwardingServerCall;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;

/**
 * Requests that do not parse get INVALID_ARGUMENT naming the method. grpc-java parses a request
 * before any listener sees it, and closes a call whose marshaller threw with UNKNOWN ("Application
 * error processing RPC"), whatever status was thrown: a client learns the server is broken, not
 * that it sent garbage. So each method here takes the request's bytes as a stream and parses them
 * in its listener, on the same thread and before the handler runs, where a failure can be answered.
 */
public final class ParseFailures {
  private static final MethodDescriptor.Marshaller<InputStream> STREAMS =
      new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(InputStream value) {
          return value;
        }

        @Override
        public InputStream parse(InputStream stream) {
          // Read by the listener before gRPC closes it, when onMessage returns.
          return stream;
        }
      };

  private ParseFailures() {}

  /** {@code service} with every method parsing as above. */
  public static ServerServiceDefinition asInvalidArgument(ServerServiceDefinition service) {
    List<ServerMethodDefinition<InputStream, ?>> methods = new ArrayList<>();
    for (ServerMethodDefinition<?, ?> m : service.getMethods()) {
      methods.add(parsingInListener(m));
    }
    return ServiceRebinding.of(service, methods);
  }

  private static <Q, R> ServerMethodDefinition<InputStream, R> parsingInListener(
      ServerMethodDefinition<Q, R> definition) {
    MethodDescriptor<Q, R> typed = definition.getMethodDescriptor();
    ServerCallHandler<Q, R> handler = definition.getServerCallHandler();
    MethodDescriptor<InputStream, R> raw =
        typed.toBuilder(STREAMS, typed.getResponseMarshaller()).build();
    return ServerMethodDefinition.create(
        raw,
        (call, headers) -> {
          ServerCall.Listener<Q> inner = handler.startCall(new TypedCall<>(call, typed), headers);
          return new ParsingListener<>(inner, call, typed);
        });
  }

  /** The call as the generated handler expects it: its own request type. */
  private static final class TypedCall<Q, R> extends ForwardingServerCall<Q, R> {
    private final ServerCall<?, R> call;
    private final MethodDescriptor<Q, R> method;

    TypedCall(ServerCall<?, R> call, MethodDescriptor<Q, R> method) {
      this.call = call;
      this.method = method;
    }

    @Override
    @SuppressWarnings("unchecked")
    protected ServerCall<Q, R> delegate() {
      // Only getMethodDescriptor names the request type, and it is answered below.
      return (ServerCall<Q, R>) call;
    }

    @Override
    public MethodDescriptor<Q, R> getMethodDescriptor() {
      return method;
    }
  }

  private static final class ParsingListener<Q> extends ServerCall.Listener<InputStream> {
    private final ServerCall.Listener<Q> inner;
    private final ServerCall<InputStream, ?> call;
    private final MethodDescriptor<Q, ?> method;
    private boolean refused;

    ParsingListener(
        ServerCall.Listener<Q> inner, ServerCall<InputStream, ?> call, MethodDescriptor<Q, ?> m) {
      this.inner = inner;
      this.call = call;
      this.method = m;
    }

    @Override
    public void onMessage(InputStream message) {
      if (refused) {
        return;
      }
      Q request;
      try {
        request = method.parseRequest(message);
      } catch (RuntimeException e) {
        refused = true;
        Status s = Status.fromThrowable(e);
        call.close(
            Status.INVALID_ARGUMENT
                .withDescription(
                    "the request to "
                        + method.getFullMethodName()
                        + " does not parse: "
                        + (s.getDescription() != null ? s.getDescription() : e.getMessage()))
                .withCause(e),
            new Metadata());
        return;
      }
      inner.onMessage(request);
    }

    @Override
    public void onHalfClose() {
      if (!refused) {
        inner.onHalfClose();
      }
    }

    @Override
    public void onCancel() {
      inner.onCancel();
    }

    @Override
    public void onComplete() {
      inner.onComplete();
    }

    @Override
    public void onReady() {
      if (!refused) {
        inner.onReady();
      }
    }
  }
}
