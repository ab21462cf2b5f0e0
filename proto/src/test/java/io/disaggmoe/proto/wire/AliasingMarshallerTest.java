package io.disaggmoe.proto.wire;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.disaggmoe.proto.Tensors;
import io.disaggmoe.proto.v1.DispatchRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.ByteArrayInputStream;
import org.junit.jupiter.api.Test;

class AliasingMarshallerTest {
  private final AliasingMarshaller<DispatchRequest> marshaller =
      new AliasingMarshaller<>(DispatchRequest.getDefaultInstance());

  private static DispatchRequest request(float value) {
    return DispatchRequest.newBuilder()
        .setDispatchId(7)
        .setLayer(3)
        .setHidden(Tensors.f32(new float[] {value, -value, 0.5f, 2f}, 2, 2))
        .setExpertIds(Tensors.i32(new int[] {1, -1}, 2, 1))
        .setRoutingWeights(Tensors.f32(new float[] {0.25f, 0f}, 2, 1))
        .build();
  }

  @Test
  void parsesWhatProtobufWrote() {
    DispatchRequest sent = request(1.5f);
    assertThat(marshaller.parse(marshaller.stream(sent))).isEqualTo(sent);
  }

  @Test
  void aMessageSharesTheThreadsBufferUntilTheNextParse() {
    DispatchRequest first = marshaller.parse(marshaller.stream(request(1.5f)));
    float[] before = Tensors.toF32(first.getHidden(), "hidden", 2);
    marshaller.parse(marshaller.stream(request(9f)));
    float[] after = Tensors.toF32(first.getHidden(), "hidden", 2);
    assertThat(before[0]).isEqualTo(1.5f);
    assertThat(after[0])
        .as("the first message's tensor bytes alias the buffer the second parse overwrote")
        .isEqualTo(9f);
  }

  @Test
  void anOwningMarshallersMessagesStayValidForGood() {
    AliasingMarshaller<DispatchRequest> owning =
        AliasingMarshaller.owning(DispatchRequest.getDefaultInstance());
    DispatchRequest first = owning.parse(owning.stream(request(1.5f)));
    owning.parse(owning.stream(request(9f)));
    assertThat(Tensors.toF32(first.getHidden(), "hidden", 2)[0]).isEqualTo(1.5f);
    assertThat(first).isEqualTo(request(1.5f));
  }

  @Test
  void garbageIsAnInternalStatus() {
    byte[] garbage = {(byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x0f};
    assertThatThrownBy(() -> marshaller.parse(new ByteArrayInputStream(garbage)))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INTERNAL));
  }
}
