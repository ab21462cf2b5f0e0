package io.disaggmoe.cli;

import static io.disaggmoe.model.testing.TensorAssert.assertClose;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.disaggmoe.attention.client.GrpcExpertExecutor;
import io.disaggmoe.attention.client.PoolConnection;
import io.disaggmoe.attention.core.ExpertPoolUnavailableException;
import io.disaggmoe.model.GreedyForward;
import io.disaggmoe.model.LocalModel;
import io.disaggmoe.model.cache.PagedLatentCache;
import io.disaggmoe.model.layer.AttentionMode;
import io.disaggmoe.model.testing.GoldenCase;
import io.disaggmoe.proto.wire.StageChannels;
import io.disaggmoe.proto.wire.ThrowawayCa;
import io.disaggmoe.proto.wire.TransportSecurity;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import tools.jackson.databind.JsonNode;

/** Attention here, routed experts in separate expert-service processes, real gRPC on loopback. */
class ExpertPoolProcessesTest {
  @TempDir Path tmp;

  static Stream<GoldenCase> cases() {
    return GoldenCase.some("v3-fp8");
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void forwardWithTwoExpertPoolsEqualsTheLocalModel(GoldenCase golden) throws Exception {
    ForwardOutput.assertEqualsLocalModel(golden, tmp, "2 pools", "--expert-pools", "2");
  }

  @Test
  void threePoolsWithRedundantExpertsEqualTheLocalModel() throws Exception {
    GoldenCase golden = GoldenCase.named("v3-yarn");
    int[] prompt = golden.promptIds();
    int steps = golden.greedyIds().length - 1;
    List<List<Integer>> replicas = List.of(List.of(5, 6), List.of(11, 12), List.of(0, 1));
    try (ExpertPoolProcesses pools = ExpertPoolProcesses.start(golden.dir(), 3, replicas);
        LocalModel split = remote(golden, pools);
        LocalModel local = LocalModel.load(golden.dir(), AttentionMode.ABSORB)) {
      split.setMicroBatchOverlap(true);
      GreedyForward expected = GreedyForward.run(local, prompt, steps);
      GreedyForward actual = GreedyForward.run(split, prompt, steps);
      int vocab = local.config().vocabSize();
      assertClose("3 pools prefill", expected.prefillLogits(), actual.prefillLogits(), vocab, 1e-5);
      assertClose("3 pools decode", expected.decodeLogits(), actual.decodeLogits(), vocab, 1e-5);
      assertThat(actual.greedyIds()).containsExactly(expected.greedyIds());
    }
  }

  @Test
  void killingAPoolThatHasAReplicaMidRunChangesNoToken() throws Exception {
    GoldenCase golden = GoldenCase.named("v3-tiny");
    int[] prompt = golden.promptIds();
    int steps = golden.greedyIds().length - 1;
    // Pool 1 also holds pool 0's experts, so it can take over all of them.
    List<Integer> poolZeroExperts = IntStream.range(0, 8).boxed().toList();
    try (ExpertPoolProcesses pools =
            ExpertPoolProcesses.start(golden.dir(), 2, List.of(List.of(), poolZeroExperts));
        LocalModel split = remote(golden, pools);
        PagedLatentCache cache = split.newCache()) {
      int vocab = split.config().vocabSize();
      float[] prefill = split.forward(List.of(cache), List.of(prompt), true).get(0);
      int token = GreedyForward.argmax(prefill, (prompt.length - 1) * vocab, vocab);
      List<Integer> ids = new ArrayList<>(List.of(token));
      for (int j = 0; j < steps; j++) {
        if (j == 3) {
          pools.kill(0);
        }
        float[] logits = split.forward(List.of(cache), List.of(new int[] {token}), false).get(0);
        token = GreedyForward.argmax(logits, 0, vocab);
        ids.add(token);
      }
      assertThat(ids.stream().mapToInt(Integer::intValue).toArray())
          .containsExactly(golden.greedyIds());
    }
  }

  /**
   * A pool serving with mutual TLS answers a client with a certificate of its CA, and refuses one
   * in plaintext and one whose certificate another CA signed (though it trusts the pool's).
   */
  @Test
  void aPoolWithTlsServesOnlyClientsSignedByItsCa() throws Exception {
    GoldenCase golden = GoldenCase.named("v3-tiny");
    Duration deadline = Duration.ofSeconds(20);
    try (LaunchSecurity tls = LaunchSecurity.throwawayTls();
        ExpertPoolProcesses pools = ExpertPoolProcesses.start(golden.dir(), 1, List.of(), tls)) {
      String target = pools.targets().get(0);
      try (PoolConnection c = PoolConnection.open(target, deadline, pools.channels())) {
        assertThat(c.placement().getExpertsCount()).isPositive();
      }
      assertThatThrownBy(() -> PoolConnection.open(target, deadline, StageChannels.plaintext()))
          .hasMessageContaining("UNAVAILABLE");
      TransportSecurity.TlsFiles stranger =
          ThrowawayCa.create("another CA").issue(tmp.resolve("stranger"), "client");
      Path poolCa = pools.channels().security().files().orElseThrow().trustedCa();
      StageChannels strangerChannels =
          new StageChannels(
              TransportSecurity.mutualTls(
                  new TransportSecurity.TlsFiles(
                      stranger.certificate(), stranger.privateKey(), poolCa)));
      assertThatThrownBy(() -> PoolConnection.open(target, deadline, strangerChannels))
          .hasMessageContaining("UNAVAILABLE");
    }
  }

  @Test
  void aPoolWithoutReplicaRestartedOnItsAddressIsUsedAgain() throws Exception {
    GoldenCase golden = GoldenCase.named("v3-tiny");
    int[] prompt = golden.promptIds();
    try (ExpertPoolProcesses pools = ExpertPoolProcesses.start(golden.dir(), 2, List.of());
        LocalModel split = remote(golden, pools)) {
      pools.kill(1);
      try (PagedLatentCache cache = split.newCache()) {
        assertThatThrownBy(() -> split.forward(List.of(cache), List.of(prompt), false))
            .isInstanceOf(ExpertPoolUnavailableException.class);
      }
      pools.restart(1);
      // Nothing restarts on the attention side: the pool's health probe brings it back.
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      int vocab = split.config().vocabSize();
      while (true) {
        try (PagedLatentCache cache = split.newCache()) {
          float[] logits = split.forward(List.of(cache), List.of(prompt), true).get(0);
          assertThat(GreedyForward.argmax(logits, (prompt.length - 1) * vocab, vocab))
              .isEqualTo(golden.greedyIds()[0]);
          break;
        } catch (ExpertPoolUnavailableException e) {
          if (System.nanoTime() > deadline) {
            throw new AssertionError("the restarted pool was not used again within 30 s", e);
          }
          Thread.sleep(200);
        }
      }
    }
  }

  @Test
  void benchDecodeWithPoolsTimesBothOverlapModesAndCountsExpertReads() throws Exception {
    JsonNode json =
        CliRun.json(
            "bench",
            "decode",
            "--model",
            GoldenCase.named("v3-tiny").dir().toString(),
            "--expert-pools",
            "2",
            "--batch",
            "4",
            "--steps",
            "2",
            "--warmup",
            "1",
            "--json");
    // The two pools split the routed experts evenly: each holds the same bytes, together less
    // than the whole checkpoint (which holds attention and the dense layers too).
    JsonNode pools = json.get("pool_resident_weight_bytes");
    assertThat(pools).as("pool_resident_weight_bytes").hasSize(2);
    assertThat(pools.get(0).asLong()).isPositive().isEqualTo(pools.get(1).asLong());
    assertThat(pools.get(0).asLong() + pools.get(1).asLong())
        .isLessThan(json.get("checkpoint_bytes").asLong());
    JsonNode results = json.get("results");
    assertThat(results).hasSize(3);
    assertThat(results.get(0).get("mode").asString()).isEqualTo("monolithic");
    JsonNode mono = results.get(0);
    long monoExperts = mono.get("expert_bytes_per_step").asLong();
    assertThat(monoExperts).isPositive();
    assertThat(mono.get("weight_bytes_per_step").asLong()).isGreaterThan(monoExperts);
    assertThat(mono.get("bound_tokens_per_s").asDouble()).isPositive();
    long[] bytes = new long[2];
    for (int i = 1; i <= 2; i++) {
      JsonNode r = results.get(i);
      assertThat(r.get("mode").asString()).isEqualTo("disaggregated");
      assertThat(r.get("overlap").asBoolean()).isEqualTo(i == 2);
      assertThat(r.get("ratio_to_monolithic").asDouble()).isPositive();
      bytes[i - 1] = r.get("expert_bytes_per_step").asLong();
    }
    // The same greedy tokens route the same way: the pools merge the two halves' passes at best
    // into the whole batch's, never fewer.
    assertThat(bytes[0]).as("pools vs monolithic expert bytes").isGreaterThanOrEqualTo(monoExperts);
    assertThat(bytes[1]).as("overlap on vs off expert bytes").isGreaterThanOrEqualTo(bytes[0]);
  }

  @Test
  void benchRpcTimesADispatchBesideATcpEcho() throws Exception {
    JsonNode json =
        CliRun.json(
            "bench",
            "rpc",
            "--model",
            GoldenCase.named("v3-tiny").dir().toString(),
            "--warmup",
            "50",
            "--iterations",
            "150",
            "--tokens",
            "2",
            "--json");
    for (String key :
        List.of("dispatch_p50_us", "dispatch_p99_us", "tcp_echo_p50_us", "tcp_echo_p99_us")) {
      assertThat(json.get(key).asDouble()).as(key).isPositive();
    }
    assertThat(json.get("dispatch_p99_us").asDouble())
        .isGreaterThanOrEqualTo(json.get("dispatch_p50_us").asDouble());
    // 2 tokens x hidden x 4 bytes, plus a few hundred bytes of ids, weights and framing.
    int hidden =
        io.disaggmoe.model.config.ModelConfigJson.read(GoldenCase.named("v3-tiny").dir())
            .hiddenSize();
    assertThat(json.get("bytes_each_way").asInt())
        .as("bytes_each_way")
        .isBetween(2 * hidden * 4, 2 * hidden * 4 + 512);
  }

  private static LocalModel remote(GoldenCase golden, ExpertPoolProcesses pools) throws Exception {
    int experts = io.disaggmoe.model.config.ModelConfigJson.read(golden.dir()).nRoutedExperts();
    return LocalModel.load(
        golden.dir(),
        AttentionMode.ABSORB,
        GrpcExpertExecutor.connect(
            pools.targets(), experts, Duration.ofSeconds(30), pools.channels()));
  }
}
