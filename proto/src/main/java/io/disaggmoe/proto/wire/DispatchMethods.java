package io.disaggmoe.proto.wire;

import io.disaggmoe.proto.v1.DispatchRequest;
import io.disaggmoe.proto.v1.DispatchResponse;
import io.disaggmoe.proto.v1.ExpertServiceGrpc;
import io.grpc.MethodDescriptor;
import io.grpc.MethodDescriptor.Marshaller;
import io.grpc.ServerServiceDefinition;
import io.grpc.protobuf.ProtoUtils;
import java.io.InputStream;
import java.util.List;

/**
 * The expert dispatch methods with marshallers that spare the activations copies; the bytes on the
 * wire are protobuf's, so any client of {@code disaggmoe.v1.ExpertService} still talks to them.
 *
 * <p>Pools parse dispatches with their tensors aliasing the transport thread's buffer ({@link
 * AliasingMarshaller}); attention instances decode each response straight into its float array
 * ({@link ReceivedPartial}) on the transport thread.
 */
public final class DispatchMethods {
  private DispatchMethods() {}

  /** The DispatchStream method as an attention instance calls it. */
  public static final MethodDescriptor<DispatchRequest, ReceivedPartial> CLIENT_DISPATCH_STREAM =
      ExpertServiceGrpc.getDispatchStreamMethod().toBuilder(
              ProtoUtils.marshaller(DispatchRequest.getDefaultInstance()), new PartialMarshaller())
          .build();

  /**
   * {@code generated} (the pool's {@code bindService()}) with DispatchStream parsing requests
   * through an {@link AliasingMarshaller}: a stream's handler gets each request on the thread that
   * parsed it and must be done with it when it returns. Unary Dispatch parses into an array of its
   * own: grpc-java parses a unary request in one callback and runs the handler in a later one,
   * possibly after the same thread has parsed another call's request into its buffer.
   */
  public static ServerServiceDefinition aliasingRequests(ServerServiceDefinition generated) {
    Marshaller<DispatchResponse> responses =
        ProtoUtils.marshaller(DispatchResponse.getDefaultInstance());
    return ServiceRebinding.replace(
        generated,
        List.of(
            ExpertServiceGrpc.getDispatchMethod().toBuilder(
                    AliasingMarshaller.owning(DispatchRequest.getDefaultInstance()), responses)
                .build(),
            ExpertServiceGrpc.getDispatchStreamMethod().toBuilder(
                    new AliasingMarshaller<>(DispatchRequest.getDefaultInstance()), responses)
                .build()));
  }

  private static final class PartialMarshaller implements Marshaller<ReceivedPartial> {
    private final AliasingMarshaller<DispatchResponse> responses =
        new AliasingMarshaller<>(DispatchResponse.getDefaultInstance());

    @Override
    public InputStream stream(ReceivedPartial value) {
      return responses.stream(value.toResponse());
    }

    /**
     * The aliased response is decoded before this returns, so the thread's buffer is free again.
     */
    @Override
    public ReceivedPartial parse(InputStream stream) {
      return ReceivedPartial.of(responses.parse(stream));
    }
  }
}
