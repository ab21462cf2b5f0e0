package io.disaggmoe.proto.wire;

import io.disaggmoe.proto.Tensors;
import io.disaggmoe.proto.v1.DispatchError;
import io.disaggmoe.proto.v1.DispatchResponse;
import io.grpc.Status;

/**
 * A {@link DispatchResponse} as an attention instance receives it: the pool's weighted slot outputs
 * already in an array of their own, or the status that failed this one dispatch.
 *
 * @param partial {@code [rows, dim]} row-major; null when {@code error} is set
 */
public record ReceivedPartial(long dispatchId, float[] partial, int rows, int dim, Status error) {

  /** Decodes {@code r}; a malformed partial fails only this dispatch, as INTERNAL. */
  public static ReceivedPartial of(DispatchResponse r) {
    if (r.hasError()) {
      DispatchError e = r.getError();
      return failed(
          r.getDispatchId(), Status.fromCodeValue(e.getCode()).withDescription(e.getMessage()));
    }
    try {
      float[] values = Tensors.toF32(r.getPartial(), "partial", 2);
      return new ReceivedPartial(
          r.getDispatchId(),
          values,
          Tensors.dim(r.getPartial(), 0),
          Tensors.dim(r.getPartial(), 1),
          null);
    } catch (IllegalArgumentException e) {
      return failed(
          r.getDispatchId(),
          Status.INTERNAL.withDescription("the pool sent a malformed partial: " + e.getMessage()));
    }
  }

  static ReceivedPartial failed(long dispatchId, Status error) {
    return new ReceivedPartial(dispatchId, null, 0, 0, error);
  }

  /** The response this was decoded from. */
  public DispatchResponse toResponse() {
    DispatchResponse.Builder b = DispatchResponse.newBuilder().setDispatchId(dispatchId);
    if (error != null) {
      b.setError(
          DispatchError.newBuilder()
              .setCode(error.getCode().value())
              .setMessage(String.valueOf(error.getDescription())));
    } else {
      b.setPartial(Tensors.f32(partial, rows, dim));
    }
    return b.build();
  }
}
