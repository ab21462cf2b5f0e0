package io.disaggmoe.attention.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.disaggmoe.attention.client.Peers;
import io.disaggmoe.attention.grpc.AttentionGrpcService;
import io.disaggmoe.model.testing.GoldenCase;
import io.disaggmoe.proto.v1.AttentionServiceGrpc;
import io.disaggmoe.proto.v1.AttentionStatus;
import io.disaggmoe.proto.v1.DecodeRequest;
import io.disaggmoe.proto.v1.DecodeResponse;
import io.disaggmoe.proto.v1.FinishReason;
import io.disaggmoe.proto.v1.ForwardRequest;
import io.disaggmoe.proto.v1.GetStatusRequest;
import io.disaggmoe.proto.v1.PrefillRequest;
import io.disaggmoe.proto.v1.PrefillResponse;
import io.disaggmoe.proto.v1.SamplingParams;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Prefill and Decode RPCs over the engines, and the statuses of bad calls. */
class AttentionRolesGrpcTest {
  @Test
  void prefillThenDecodeStreamsTheGreedyTokensAndBadCallsGetStatuses() throws Exception {
    GoldenCase golden = GoldenCase.named("v3-tiny");
    try (SplitStack s = new SplitStack(golden.dir(), 1 << 24, 4, 1 << 24, 512)) {
      String name = InProcessServerBuilder.generateName();
      Server prefillServer =
          InProcessServerBuilder.forName(name + "p")
              .addService(
                  new AttentionGrpcService(
                      s.model, "prefill", s.prefill, null, false, new Peers(null, s.kv)))
              .build()
              .start();
      Server decodeServer =
          InProcessServerBuilder.forName(name + "d")
              .addService(
                  new AttentionGrpcService(s.model, "decode", null, s.decode, true, Peers.none()))
              .build()
              .start();
      ManagedChannel p = InProcessChannelBuilder.forName(name + "p").build();
      ManagedChannel d = InProcessChannelBuilder.forName(name + "d").build();
      try {
        var prefill = AttentionServiceGrpc.newBlockingStub(p);
        var decode = AttentionServiceGrpc.newBlockingStub(d);
        SamplingParams greedy =
            SamplingParams.newBuilder()
                .setTemperature(0)
                .setIgnoreEos(true)
                .setMaxTokens(9)
                .build();
        PrefillRequest.Builder pr =
            PrefillRequest.newBuilder().setRequestId("q").setTenant("t").setSampling(greedy);
        for (int id : golden.promptIds()) {
          pr.addPromptIds(id);
        }
        PrefillResponse first = prefill.prefill(pr.build());
        assertThat(first.getComputedTokens()).isEqualTo(golden.promptIds().length);
        assertThat(first.getCache().getTokens()).isEqualTo(golden.promptIds().length);

        DecodeRequest.Builder dr =
            DecodeRequest.newBuilder()
                .setRequestId("q")
                .setTenant("t")
                .addGeneratedIds(first.getFirstToken().getTokenId())
                .setCache(first.getCache())
                .setSampling(greedy);
        for (int id : golden.promptIds()) {
          dr.addPromptIds(id);
        }
        List<Integer> ids = new ArrayList<>(List.of(first.getFirstToken().getTokenId()));
        Iterator<DecodeResponse> stream = decode.decode(dr.build());
        DecodeResponse last = null;
        while (stream.hasNext()) {
          last = stream.next();
          last.getTokensList().forEach(t -> ids.add(t.getTokenId()));
        }
        assertThat(ids.stream().mapToInt(Integer::intValue).toArray())
            .isEqualTo(golden.greedyIds());
        assertThat(last.getFinishReason()).isEqualTo(FinishReason.FINISH_REASON_LENGTH);

        assertThatThrownBy(() -> decode.prefill(pr.build()))
            .isInstanceOf(StatusRuntimeException.class)
            .hasMessageContaining("FAILED_PRECONDITION")
            .hasMessageContaining("role decode");
        assertThatThrownBy(() -> prefill.prefill(pr.clone().setRequestId("").build()))
            .hasMessageContaining("INVALID_ARGUMENT: request_id is empty");
        assertThatThrownBy(() -> prefill.prefill(pr.clone().addPromptIds(100_000).build()))
            .hasMessageContaining("INVALID_ARGUMENT")
            .hasMessageContaining("prompt_ids[11] = 100000 is outside the vocabulary");
        assertThatThrownBy(
                () ->
                    prefill.prefill(
                        pr.clone()
                            .setSampling(greedy.toBuilder().setTopP(3))
                            .setRequestId("bad-top-p")
                            .build()))
            .hasMessageContaining("INVALID_ARGUMENT")
            .hasMessageContaining("top_p");
        assertThatThrownBy(
                () ->
                    prefill.prefill(
                        pr.clone()
                            .setSampling(greedy.toBuilder().addStop("x"))
                            .setRequestId("stop-strings")
                            .build()))
            .hasMessageContaining("INVALID_ARGUMENT")
            .hasMessageContaining("stop strings need a tokenizer");
        // No prefill instance took the prompt: the decode instance computes it and samples the
        // first token itself.
        List<Integer> fromDecode = new ArrayList<>();
        decode
            .decode(dr.clone().setRequestId("q2").clearGeneratedIds().clearCache().build())
            .forEachRemaining(r -> r.getTokensList().forEach(t -> fromDecode.add(t.getTokenId())));
        assertThat(fromDecode.stream().mapToInt(Integer::intValue).toArray())
            .as("greedy ids of a prompt the decode instance computed itself")
            .isEqualTo(golden.greedyIds());
        // The debug Forward: off unless the instance was started with it (the prefill one was
        // not), bounded by the context when on, and exact.
        ForwardRequest.Builder fr = ForwardRequest.newBuilder().setDecodeSteps(2);
        for (int id : golden.promptIds()) {
          fr.addPromptIds(id);
        }
        assertThatThrownBy(() -> prefill.forward(fr.build()))
            .hasMessageContaining("FAILED_PRECONDITION")
            .hasMessageContaining("--debug-forward");
        int context = s.model.config().maxPositionEmbeddings();
        assertThatThrownBy(() -> decode.forward(fr.clone().setDecodeSteps(context).build()))
            .hasMessageContaining("INVALID_ARGUMENT")
            .hasMessageContaining("context of " + context);
        assertThat(decode.forward(fr.build()).getGreedyIdsList().subList(0, 3))
            .containsExactly(
                (long) golden.greedyIds()[0],
                (long) golden.greedyIds()[1],
                (long) golden.greedyIds()[2]);
        // The prefill instance reports the kv-cache-service it uses, reachable.
        AttentionStatus withPeers = prefill.getStatus(GetStatusRequest.getDefaultInstance());
        assertThat(withPeers.getPeersList())
            .singleElement()
            .satisfies(
                peer -> {
                  assertThat(peer.getRole()).isEqualTo("kv-cache");
                  assertThat(peer.getAddress()).isEqualTo(s.kv.target());
                  assertThat(peer.getReachable()).isTrue();
                });
        AttentionStatus status = decode.getStatus(GetStatusRequest.getDefaultInstance());
        assertThat(status.getRole()).isEqualTo("decode");
        assertThat(status.getFreeKvBytes())
            .as("the whole budget in pages, nothing running")
            .isEqualTo(s.decode.kvCapacityBytes());
      } finally {
        p.shutdownNow();
        d.shutdownNow();
        prefillServer.shutdownNow();
        decodeServer.shutdownNow();
      }
    }
  }
}
