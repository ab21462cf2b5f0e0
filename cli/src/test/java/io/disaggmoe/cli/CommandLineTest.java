package io.disaggmoe.cli;

import static io.disaggmoe.cli.CliRun.run;
import static io.disaggmoe.model.testing.TensorAssert.assertClose;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;
import static org.assertj.core.api.Assertions.withinPercentage;

import io.disaggmoe.model.testing.GoldenCase;
import io.disaggmoe.model.weights.Checkpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;

/** The command-line contracts: flags, output file layout and JSON keys. */
class CommandLineTest {
  @TempDir Path tmp;

  @Test
  void forwardWritesTheGoldenLayoutAndReproducesTheReference() throws Exception {
    for (String attn : List.of("absorb", "naive")) {
      GoldenCase golden = GoldenCase.named("v3-fp8");
      int[] prompt = golden.promptIds();
      Path out = tmp.resolve("out-" + attn);
      Files.createDirectories(out);
      CliRun r =
          run(
              "forward",
              "--model",
              golden.dir().toString(),
              "--prompt-ids",
              Arrays.stream(prompt).mapToObj(String::valueOf).collect(Collectors.joining(",")),
              "--decode",
              "8",
              "--attn",
              attn,
              "--out",
              out.resolve("result.safetensors").toString());
      assertThat(r.exitCode()).as(r.err()).isZero();
      try (Checkpoint written = Checkpoint.open(out, null);
          Checkpoint expected = golden.expected()) {
        int vocab = 512;
        String suffix = attn.equals("naive") ? "_naive" : "";
        assertClose(
            "forward --attn " + attn + " prefill_logits",
            expected.readFloats("prefill_logits" + suffix, prompt.length, vocab),
            written.readFloats("prefill_logits", prompt.length, vocab),
            vocab,
            1e-4);
        assertClose(
            "forward --attn " + attn + " decode_logits",
            expected.readFloats("decode_logits_" + attn, 8, vocab),
            written.readFloats("decode_logits", 8, vocab),
            vocab,
            1e-4);
        assertThat(written.readLongs("greedy_ids"))
            .containsExactly(expected.readLongs("greedy_ids"));
      }
    }
  }

  @Test
  void badArgumentsExitNonZeroWithTheCause() {
    CliRun badMode =
        run(
            "forward",
            "--model",
            GoldenCase.named("v3-tiny").dir().toString(),
            "--prompt-ids",
            "0,1",
            "--attn",
            "fast",
            "--out",
            tmp.resolve("x.safetensors").toString());
    assertThat(badMode.exitCode()).isNotZero();
    assertThat(badMode.err()).contains("--attn must be absorb or naive, got 'fast'");

    CliRun badId =
        run(
            "forward",
            "--model",
            GoldenCase.named("v3-tiny").dir().toString(),
            "--prompt-ids",
            "0,9999",
            "--out",
            tmp.resolve("y.safetensors").toString());
    assertThat(badId.exitCode()).isNotZero();
    assertThat(badId.err()).contains("id 9999 is outside the vocabulary [0, 512)");

    CliRun badPreset = run("gen-model", "--preset", "huge", "--out", tmp.toString());
    assertThat(badPreset.exitCode()).isNotZero();
    assertThat(badPreset.err()).contains("unknown preset 'huge'");

    CliRun badQueue =
        run(
            "serve",
            "expert",
            "--model",
            GoldenCase.named("v3-tiny").dir().toString(),
            "--port",
            "0",
            "--max-queued",
            "lots");
    assertThat(badQueue.exitCode()).isNotZero();
    assertThat(badQueue.err()).contains("--max-queued: 'lots' is not a positive size");
  }

  @Test
  void genModelTinyThenForwardThenBenchJson() throws Exception {
    Path model = tmp.resolve("tiny");
    assertThat(
            run("gen-model", "--preset", "tiny", "--seed", "7", "--out", model.toString())
                .exitCode())
        .isZero();
    Path out = tmp.resolve("fw");
    Files.createDirectories(out);
    CliRun fw =
        run(
            "forward",
            "--model",
            model.toString(),
            "--prompt-ids",
            "0,100,2000",
            "--decode",
            "4",
            "--out",
            out.resolve("r.safetensors").toString());
    assertThat(fw.exitCode()).as(fw.err()).isZero();
    try (Checkpoint written = Checkpoint.open(out, null)) {
      assertThat(written.entry("prefill_logits").shape()).containsExactly(3, 129280);
      assertThat(written.entry("decode_logits").shape()).containsExactly(4, 129280);
      assertThat(written.readLongs("greedy_ids")).hasSize(5);
    }

    JsonNode json =
        CliRun.json(
            "bench",
            "decode",
            "--model",
            model.toString(),
            "--batch",
            "1,4",
            "--steps",
            "2",
            "--json");
    assertThat(json.get("latent_cache_bytes_per_token").asLong()).isEqualTo(4L * 4 * (64 + 16));
    assertThat(json.get("results")).hasSize(2);
    JsonNode first = json.get("results").get(0);
    assertThat(Map.of("batch", first.get("batch").asInt(), "mode", first.get("mode").asString()))
        .containsEntry("batch", 1)
        .containsEntry("mode", "monolithic");
    assertThat(first.get("tokens_per_s").asDouble()).isPositive();
    assertThat(first.get("ms_per_step").asDouble()).isPositive();
    assertThat(first.get("median_ms_per_step").asDouble())
        .as("the median of two steps is their mean")
        .isCloseTo(first.get("ms_per_step").asDouble(), within(1e-6));
    assertThat(first.get("weight_bytes_per_step").asLong())
        .isGreaterThan(first.get("expert_bytes_per_step").asLong());
    assertThat(json.get("read_gb_s").asDouble()).isPositive();
    // Each row is bounded by the probe passes run between its own steps.
    assertThat(first.get("bound_tokens_per_s").asDouble())
        .as("batch 1's bound: its weight bytes per step at its own read rate")
        .isCloseTo(
            first.get("read_gb_s").asDouble() * 1e9 / first.get("weight_bytes_per_step").asLong(),
            withinPercentage(1e-6));
    // Each step against the probe pass after it: no pass reads faster than the row's best, and
    // batch 1 reads the same weights every step, so the median step comes at least as close.
    assertThat(first.get("median_step_fraction_of_bound").asDouble())
        .isGreaterThanOrEqualTo(first.get("fraction_of_bound").asDouble() * (1 - 1e-9));
    // 16 prompt positions, the untimed steps on another batch: the two timed steps attend over 17
    // and 18.
    assertThat(first.get("cache_bytes_per_step").asLong())
        .as("cache bytes a batch-1 step reads")
        .isEqualTo(Math.round(17.5 * json.get("latent_cache_bytes_per_token").asLong()));
    assertThat(first.get("attention_flops_per_step").asLong()).isPositive();
    assertThat(first.get("attention_bound_ms_per_step").asDouble()).isPositive();
    assertThat(json.get("fma_gflops").asDouble()).isPositive();
    // A BF16 weight is two bytes and one multiply-add (two operations) per token.
    long denseBytes =
        first.get("weight_bytes_per_step").asLong() - first.get("expert_bytes_per_step").asLong();
    long denseFlops =
        first.get("weight_flops_per_step").asLong() - first.get("expert_flops_per_step").asLong();
    assertThat((double) denseFlops)
        .as("float operations of the weights every token passes through, against their bytes")
        .isCloseTo(denseBytes, withinPercentage(5));
    assertThat(first.get("roofline_tokens_per_s").asDouble())
        .as("the roofline adds arithmetic and attention to the weights' reads")
        .isPositive()
        .isLessThanOrEqualTo(first.get("bound_tokens_per_s").asDouble());
    // The BF16 checkpoint stays BF16 in memory (float32 would double it); only the norms widen.
    long checkpoint = json.get("checkpoint_bytes").asLong();
    assertThat(json.get("resident_weight_bytes").asLong())
        .isBetween(checkpoint, checkpoint + checkpoint / 1000);

    JsonNode prefill =
        CliRun.json(
            "bench",
            "prefill",
            "--model",
            model.toString(),
            "--prompt-len",
            "8,32",
            "--batch",
            "1,2",
            "--rounds",
            "1",
            "--json");
    assertThat(prefill.get("results")).hasSize(4);
    JsonNode last = prefill.get("results").get(3);
    assertThat(last.get("prompt_len").asInt()).isEqualTo(32);
    assertThat(last.get("batch").asInt()).isEqualTo(2);
    assertThat(last.get("tokens_per_s").asDouble()).isPositive();
  }

  @Test
  void benchKernelsReportsEachCaseAgainstTheProbePassesBesideIt() {
    JsonNode json = CliRun.json("bench", "kernels", "--megabytes", "3", "--rounds", "2", "--json");
    JsonNode results = json.get("results");
    assertThat(results).hasSize(5);
    for (JsonNode row : results) {
      String name = row.get("case").asString() + " x" + row.get("rows").asInt();
      assertThat(row.get("bytes").asLong()).as(name).isPositive();
      assertThat(row.get("gb_s").asDouble()).as(name).isPositive();
      assertThat(row.get("read_gb_s").asDouble()).as(name).isPositive();
      assertThat(row.get("fraction_of_read").asDouble()).as(name).isPositive();
    }
    assertThat(results.get(4).get("rows").asInt()).isEqualTo(3);
  }

  @Test
  void benchKvPrintsPutGetAndMemcpyThroughput() throws Exception {
    Path model = io.disaggmoe.model.testing.GoldenCase.named("v3-tiny").dir();
    JsonNode json =
        CliRun.json(
            "bench",
            "kv",
            "--model",
            model.toString(),
            "--blocks",
            "4",
            "--rounds",
            "2",
            "--warmup",
            "1",
            "--json");
    assertThat(json.get("put_get_gb_s").asDouble()).isPositive();
    assertThat(json.get("memcpy_gb_s").asDouble()).isPositive();
    assertThat(json.get("tcp_stream_gb_s").asDouble()).isPositive();
    assertThat(json.get("fraction_of_tcp").asDouble()).isPositive();
  }

  @Test
  void benchKvHandoffTimesAPromptFromPrefillToDecode() throws Exception {
    Path model = io.disaggmoe.model.testing.GoldenCase.named("v3-tiny").dir();
    // 200 tokens: three full blocks of 64 and a tail of 8, in BF16.
    JsonNode json =
        CliRun.json(
            "bench",
            "kv",
            "--handoff",
            "--prompt-len",
            "200",
            "--kv-dtype",
            "bf16",
            "--model",
            model.toString(),
            "--rounds",
            "3",
            "--warmup",
            "1",
            "--json");
    assertThat(json.get("handoff_ms").asDouble()).isPositive();
    assertThat(json.get("tcp_stream_ms").asDouble()).isPositive();
    assertThat(json.get("prompt_len").asInt()).isEqualTo(200);
    assertThat(json.get("kv_dtype").asText()).isEqualTo("BF16");
    io.disaggmoe.model.config.ModelConfig c = io.disaggmoe.model.config.ModelConfigJson.read(model);
    assertThat(json.get("handoff_bytes").asLong())
        .isEqualTo(200L * c.numHiddenLayers() * c.latentDim() * 2);
  }

  @Test
  void serveAttentionRefusesAnUnknownRole() {
    CliRun r =
        run(
            "serve",
            "attention",
            "--model",
            io.disaggmoe.model.testing.GoldenCase.named("v3-tiny").dir().toString(),
            "--role",
            "both",
            "--kv-cache",
            "127.0.0.1:1",
            "--port",
            "0");
    assertThat(r.exitCode()).isNotZero();
    assertThat(r.out() + r.err()).contains("--role must be prefill or decode, got both");
  }
}
