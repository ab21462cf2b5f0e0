package io.disaggmoe.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.model.config.ModelConfigJson;
import io.disaggmoe.model.testing.GoldenCase;
import io.disaggmoe.model.weights.Checkpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import tools.jackson.databind.JsonNode;

/**
 * {@code forward --split}: prefill and decode attention-service processes, a kv-cache-service
 * process between them and two expert-service processes, all over real gRPC on loopback.
 */
class SplitProcessesTest {
  @TempDir Path tmp;

  static Stream<GoldenCase> cases() {
    return GoldenCase.some("v2-lite-style");
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void forwardSplitWithTwoExpertPoolsEqualsTheLocalModel(GoldenCase golden) throws Exception {
    // 4-token blocks: the prompt's cache crosses as full blocks and a tail. Every stage speaks
    // mutual TLS; the plaintext path is the same but for the channels' security, and is checked
    // by the split tests below and each service's own.
    ForwardOutput.assertEqualsLocalModel(
        golden,
        tmp,
        "--split with 2 pools and mutual TLS",
        "--split",
        "--expert-pools",
        "2",
        "--kv-block-tokens",
        "4",
        "--tls");
  }

  /**
   * BF16 blocks between the roles: the prompt's latent cache is rounded to 8 significant bits, so
   * decode logits move a little (0.005 to 0.009 on the golden cases) but the greedy ids stay.
   */
  @Test
  void forwardSplitWithBf16BlocksKeepsTheGreedyIdsWithinASmallLogitError() throws Exception {
    GoldenCase golden = GoldenCase.named("v3-tiny");
    int steps = golden.greedyIds().length - 1;
    Path dir = Files.createDirectories(tmp.resolve("bf16"));
    ForwardOutput.run(golden, dir, "--split", "--kv-block-tokens", "4", "--kv-dtype", "bf16");
    int vocab = ModelConfigJson.read(golden.dir()).vocabSize();
    try (Checkpoint written = Checkpoint.open(dir, null);
        Checkpoint expected = golden.expected()) {
      float[] want = expected.readFloats("decode_logits_absorb", steps, vocab);
      float[] got = written.readFloats("decode_logits", steps, vocab);
      double worst = 0;
      for (int i = 0; i < want.length; i++) {
        worst = Math.max(worst, Math.abs(want[i] - got[i]));
      }
      assertThat(worst)
          .as("largest decode logit difference from the F32 reference")
          .isGreaterThan(0)
          .isLessThan(0.05);
      assertThat(GoldenCase.toInts(written.readLongs("greedy_ids")))
          .containsExactly(golden.greedyIds());
    }
  }

  @Test
  void benchDecodeSplitTimesTheDecodeRoleBesideTheMonolithicModel() throws Exception {
    JsonNode results =
        CliRun.json(
                "bench",
                "decode",
                "--model",
                GoldenCase.named("v3-tiny").dir().toString(),
                "--split",
                "--batch",
                "1,3",
                "--steps",
                "4",
                "--json")
            .get("results");
    assertThat(results).hasSize(4);
    for (int i : new int[] {1, 3}) {
      JsonNode split = results.get(i);
      assertThat(split.get("mode").asString()).isEqualTo("split");
      assertThat(split.get("batch").asInt()).isEqualTo(i == 1 ? 1 : 3);
      assertThat(split.get("tokens_per_s").asDouble()).isPositive();
      assertThat(split.get("ratio_to_monolithic").asDouble()).isPositive();
      assertThat(split.has("overlap")).as("overlap is a key of disaggregated rows only").isFalse();
    }
  }
}
