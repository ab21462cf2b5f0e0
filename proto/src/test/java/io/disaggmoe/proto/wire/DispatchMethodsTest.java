package io.disaggmoe.proto.wire;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import io.disaggmoe.proto.Tensors;
import io.disaggmoe.proto.v1.DispatchError;
import io.disaggmoe.proto.v1.DispatchResponse;
import io.disaggmoe.proto.v1.ExpertServiceGrpc;
import io.grpc.MethodDescriptor;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.protobuf.ProtoFileDescriptorSupplier;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

class DispatchMethodsTest {

  @Test
  void poolsParseDispatchesInPlaceAndKeepEveryOtherMethodAndTheSchema() {
    ServerServiceDefinition generated =
        ExpertServiceGrpc.bindService(new ExpertServiceGrpc.AsyncService() {});
    ServerServiceDefinition bound = DispatchMethods.aliasingRequests(generated);

    assertThat(bound.getServiceDescriptor().getSchemaDescriptor())
        .as("server reflection finds the service through its schema descriptor")
        .isInstanceOf(ProtoFileDescriptorSupplier.class);
    Map<String, MethodDescriptor<?, ?>> methods =
        bound.getMethods().stream()
            .map(ServerMethodDefinition::getMethodDescriptor)
            .collect(Collectors.toMap(MethodDescriptor::getBareMethodName, m -> m));
    assertThat(methods.keySet())
        .containsExactlyInAnyOrder(
            "Dispatch", "DispatchStream", "GetPlacement", "GetExpertLoad", "SetPlacement");
    assertThat(methods.get("Dispatch").getRequestMarshaller())
        .isInstanceOf(AliasingMarshaller.class);
    assertThat(methods.get("DispatchStream").getRequestMarshaller())
        .isInstanceOf(AliasingMarshaller.class);
    assertThat(methods.get("GetPlacement")).isSameAs(ExpertServiceGrpc.getGetPlacementMethod());
  }

  private static ReceivedPartial received(DispatchResponse r) {
    MethodDescriptor<?, ReceivedPartial> m = DispatchMethods.CLIENT_DISPATCH_STREAM;
    return m.parseResponse(ExpertServiceGrpc.getDispatchStreamMethod().streamResponse(r));
  }

  @Test
  void attentionReceivesTheSlotOutputsAsFloats() {
    ReceivedPartial r =
        received(
            DispatchResponse.newBuilder()
                .setDispatchId(42)
                .setPartial(Tensors.f32(new float[] {1f, 2f, 3f, 4f, 5f, 6f}, 3, 2))
                .build());
    assertThat(r.error()).isNull();
    assertThat(r.dispatchId()).isEqualTo(42);
    assertThat(r.rows()).isEqualTo(3);
    assertThat(r.dim()).isEqualTo(2);
    assertThat(r.partial()).containsExactly(1f, 2f, 3f, 4f, 5f, 6f);
  }

  @Test
  void aPoolsErrorFailsOnlyThatDispatchWithItsStatus() {
    ReceivedPartial r =
        received(
            DispatchResponse.newBuilder()
                .setDispatchId(5)
                .setError(DispatchError.newBuilder().setCode(9).setMessage("expert 12 not held"))
                .build());
    assertThat(r.dispatchId()).isEqualTo(5);
    assertThat(r.partial()).isNull();
    assertThat(r.error().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(r.error().getDescription()).isEqualTo("expert 12 not held");
  }

  @Test
  void aMalformedPartialIsInternalNamingTheTensor() {
    DispatchResponse bad =
        DispatchResponse.newBuilder()
            .setDispatchId(6)
            .setPartial(
                Tensors.f32(new float[] {1f, 2f}, 1, 2).toBuilder()
                    .setData(ByteString.copyFrom(new byte[7])))
            .build();
    ReceivedPartial r = received(bad);
    assertThat(r.dispatchId()).isEqualTo(6);
    assertThat(r.error().getCode()).isEqualTo(Status.Code.INTERNAL);
    assertThat(r.error().getDescription()).contains("partial").contains("7 data bytes");
  }
}
