package io.disaggmoe.proto.wire;

import io.disaggmoe.proto.v1.DispatchRequest;
import io.disaggmoe.proto.v1.DispatchResponse;
import io.disaggmoe.proto.v1.ExpertServiceGrpc;
import io.grpc.MethodDescriptor;
import io.grpc.MethodDescriptor.Marshaller;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.ServiceDescriptor;
import io.grpc.protobuf.ProtoUtils;
import java.io.InputStream;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

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
   * {@code generated} (the pool's {@code bindService()}) with its Dispatch and DispatchStream
   * methods parsing requests through an {@link AliasingMarshaller}; the service's handlers must be
   * done with a request when they return.
   */
  public static ServerServiceDefinition aliasingRequests(ServerServiceDefinition generated) {
    AliasingMarshaller<DispatchRequest> requests =
        new AliasingMarshaller<>(DispatchRequest.getDefaultInstance());
    Marshaller<DispatchResponse> responses =
        ProtoUtils.marshaller(DispatchResponse.getDefaultInstance());
    Map<String, MethodDescriptor<?, ?>> replaced = new HashMap<>();
    for (MethodDescriptor<DispatchRequest, DispatchResponse> m :
        List.of(
            ExpertServiceGrpc.getDispatchMethod(), ExpertServiceGrpc.getDispatchStreamMethod())) {
      replaced.put(m.getFullMethodName(), m.toBuilder(requests, responses).build());
    }
    ServiceDescriptor original = generated.getServiceDescriptor();
    ServiceDescriptor.Builder descriptor =
        ServiceDescriptor.newBuilder(original.getName())
            .setSchemaDescriptor(original.getSchemaDescriptor());
    for (MethodDescriptor<?, ?> m : original.getMethods()) {
      descriptor.addMethod(replaced.getOrDefault(m.getFullMethodName(), m));
    }
    ServerServiceDefinition.Builder out = ServerServiceDefinition.builder(descriptor.build());
    for (ServerMethodDefinition<?, ?> m : generated.getMethods()) {
      out.addMethod(rebound(m, replaced.get(m.getMethodDescriptor().getFullMethodName())));
    }
    return out.build();
  }

  @SuppressWarnings("unchecked")
  private static <Q, R> ServerMethodDefinition<Q, R> rebound(
      ServerMethodDefinition<Q, R> m, MethodDescriptor<?, ?> replacement) {
    if (replacement == null) {
      return m;
    }
    // Same request and response types, other marshallers: the generated handler still fits.
    return ServerMethodDefinition.create(
        (MethodDescriptor<Q, R>) replacement, m.getServerCallHandler());
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
