package io.disaggmoe.attention.grpc;

import io.disaggmoe.model.GreedyForward;
import io.disaggmoe.model.LocalModel;
import io.disaggmoe.proto.Tensors;
import io.disaggmoe.proto.v1.AttentionServiceGrpc;
import io.disaggmoe.proto.v1.AttentionStatus;
import io.disaggmoe.proto.v1.ForwardRequest;
import io.disaggmoe.proto.v1.ForwardResponse;
import io.disaggmoe.proto.v1.GetStatusRequest;
import io.grpc.stub.StreamObserver;
import java.util.Arrays;

/**
 * The gRPC face of an attention instance. {@code Forward} runs token ids through the model with its
 * routed experts in the expert pools; Prefill and Decode (the roles) are not served yet and answer
 * UNIMPLEMENTED.
 */
public final class AttentionGrpcService extends AttentionServiceGrpc.AttentionServiceImplBase {
  private final LocalModel model;
  private final String role;

  public AttentionGrpcService(LocalModel model, String role) {
    this.model = model;
    this.role = role;
  }

  @Override
  public void forward(ForwardRequest request, StreamObserver<ForwardResponse> response) {
    try {
      int[] prompt = request.getPromptIdsList().stream().mapToInt(Integer::intValue).toArray();
      if (prompt.length == 0) {
        throw new IllegalArgumentException("prompt_ids is empty");
      }
      int steps = request.getDecodeSteps();
      int vocab = model.config().vocabSize();
      GreedyForward r;
      synchronized (model) {
        r = GreedyForward.run(model, prompt, steps);
      }
      response.onNext(
          ForwardResponse.newBuilder()
              .setPrefillLogits(Tensors.f32(r.prefillLogits(), prompt.length, vocab))
              .setDecodeLogits(Tensors.f32(r.decodeLogits(), steps, vocab))
              .addAllGreedyIds(Arrays.stream(r.greedyIds()).boxed().toList())
              .build());
      response.onCompleted();
    } catch (RuntimeException e) {
      response.onError(AttentionStatusMapper.toStatus(e).asRuntimeException());
    }
  }

  @Override
  public void getStatus(GetStatusRequest request, StreamObserver<AttentionStatus> response) {
    response.onNext(AttentionStatus.newBuilder().setRole(role).build());
    response.onCompleted();
  }
}
