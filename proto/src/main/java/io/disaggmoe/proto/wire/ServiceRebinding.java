package io.disaggmoe.proto.wire;

import io.grpc.MethodDescriptor;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.ServiceDescriptor;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A generated service definition with some methods' marshallers replaced. The bytes on the wire
 * stay protobuf's, so any client of the service still talks to it; only how this side parses or
 * writes them changes.
 */
final class ServiceRebinding {
  private ServiceRebinding() {}

  /**
   * {@code generated} with each method of {@code replacements} (matched by full name) bound to the
   * replacement's marshallers, and the schema descriptor kept for server reflection.
   */
  static ServerServiceDefinition replace(
      ServerServiceDefinition generated, List<MethodDescriptor<?, ?>> replacements) {
    Map<String, MethodDescriptor<?, ?>> replaced = new HashMap<>();
    replacements.forEach(m -> replaced.put(m.getFullMethodName(), m));
    List<ServerMethodDefinition<?, ?>> methods = new ArrayList<>();
    for (ServerMethodDefinition<?, ?> m : generated.getMethods()) {
      methods.add(rebound(m, replaced.get(m.getMethodDescriptor().getFullMethodName())));
    }
    return of(generated, methods);
  }

  /**
   * A definition of {@code generated}'s service (its name and schema descriptor, for server
   * reflection) with {@code methods} in place of its own.
   */
  static ServerServiceDefinition of(
      ServerServiceDefinition generated, List<? extends ServerMethodDefinition<?, ?>> methods) {
    ServiceDescriptor original = generated.getServiceDescriptor();
    ServiceDescriptor.Builder descriptor =
        ServiceDescriptor.newBuilder(original.getName())
            .setSchemaDescriptor(original.getSchemaDescriptor());
    methods.forEach(m -> descriptor.addMethod(m.getMethodDescriptor()));
    ServerServiceDefinition.Builder out = ServerServiceDefinition.builder(descriptor.build());
    methods.forEach(out::addMethod);
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
}
