package io.disaggmoe.expert.grpc;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.google.protobuf.MessageLite;
import io.disaggmoe.expert.core.ExpertPool;
import io.disaggmoe.model.testing.GoldenCase;
import io.disaggmoe.proto.Tensors;
import io.disaggmoe.proto.testing.HostileCalls;
import io.disaggmoe.proto.testing.HostileMemory;
import io.disaggmoe.proto.testing.InProcessService;
import io.disaggmoe.proto.v1.DispatchRequest;
import io.disaggmoe.proto.v1.DispatchResponse;
import io.disaggmoe.proto.v1.ExpertServiceGrpc;
import io.disaggmoe.proto.v1.GetExpertLoadRequest;
import io.disaggmoe.proto.v1.GetPlacementRequest;
import io.grpc.ManagedChannel;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * Hostile messages against a pool's gRPC service: dispatches with wrong dtypes and shapes, NaN/Inf,
 * out-of-range and repeated expert ids, extreme sizes, bytes that do not parse, streams abandoned
 * half way. Every call must end with a status other than UNKNOWN or INTERNAL; afterwards the pool
 * is SERVING, a known dispatch gives exactly what it gave before, and memory is where it was. The
 * normal test run replays the committed corpus; {@code -Pfuzz} runs 10 000 new inputs.
 */
class ExpertServiceFuzzTest {
  private static ExpertPool pool;
  private static InProcessService service;
  private static ManagedChannel channel;
  private static HostileCalls calls;
  private static HostileMemory memory;
  private static DispatchRequest known;
  private static DispatchResponse knownReply;
  private static int dim;
  private static int topK;

  @BeforeAll
  static void start() throws Exception {
    pool = ExpertPool.load(GoldenCase.named("v3-tiny").dir(), "0/2", List.of(12));
    dim = pool.config().hiddenSize();
    topK = pool.config().numExpertsPerTok();
    service = InProcessService.start(new ExpertGrpcService(pool));
    channel = service.channel();
    calls =
        new HostileCalls(
            channel, ExpertServiceGrpc.getServiceDescriptor(), ExpertServiceFuzzTest::message);
    float[] hidden = new float[2 * dim];
    for (int i = 0; i < hidden.length; i++) {
      hidden[i] = (float) Math.cos(i) * 0.1f;
    }
    known =
        DispatchRequest.newBuilder()
            .setLayer(1)
            .setHidden(Tensors.f32(hidden, 2, dim))
            .setExpertIds(Tensors.i32(new int[] {0, 1, 2, 3}, 2, 2))
            .setRoutingWeights(Tensors.f32(new float[] {0.5f, 0.25f, 1f, 2f}, 2, 2))
            .build();
    knownReply = ExpertServiceGrpc.newBlockingStub(channel).dispatch(known);
    memory = HostileMemory.now();
  }

  private static MessageLite message(String method, FuzzedDataProvider data) {
    return switch (method) {
      case "Dispatch", "DispatchStream" -> dispatch(data);
      case "GetPlacement" -> GetPlacementRequest.getDefaultInstance();
      default -> GetExpertLoadRequest.getDefaultInstance();
    };
  }

  private static DispatchRequest dispatch(FuzzedDataProvider data) {
    int tokens = data.consumeInt(0, 4);
    int k = data.consumeBoolean() ? topK : data.consumeInt(0, 2 * topK);
    return DispatchRequest.newBuilder()
        .setDispatchId(data.consumeLong())
        .setLayer(data.consumeBoolean() ? data.consumeInt(0, 4) : data.consumeInt())
        .setHidden(HostileCalls.tensor(data, "F32", tokens, dim))
        .setExpertIds(HostileCalls.tensor(data, "I32", tokens, k))
        .setRoutingWeights(HostileCalls.tensor(data, "F32", tokens, k))
        .setTraceparent(data.consumeBoolean() ? data.consumeString(80) : "")
        .build();
  }

  @FuzzTest(maxExecutions = 10_000)
  void hostileMessagesGetAStatusOtherThanUnknownOrInternal(FuzzedDataProvider data)
      throws Exception {
    calls.call(data, 10);
  }

  @AfterAll
  static void afterwardsThePoolServesExactlyAsBefore() throws Exception {
    try {
      System.out.println(calls.report("expert-service"));
      HostileCalls.assertServing(channel);
      assertThat(ExpertServiceGrpc.newBlockingStub(channel).dispatch(known))
          .as("the known dispatch after the hostile ones")
          .isEqualTo(knownReply);
      assertThat(pool.queuedBytes()).as("bytes still queued in the pool").isZero();
      memory.assertFlat("expert-service");
    } finally {
      service.close();
      pool.close();
    }
  }
}
