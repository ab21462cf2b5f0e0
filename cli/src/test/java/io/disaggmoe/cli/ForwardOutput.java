package io.disaggmoe.cli;

import static io.disaggmoe.model.testing.TensorAssert.assertClose;
import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.model.GreedyForward;
import io.disaggmoe.model.LocalModel;
import io.disaggmoe.model.layer.AttentionMode;
import io.disaggmoe.model.testing.GoldenCase;
import io.disaggmoe.model.weights.Checkpoint;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Collectors;

/** Runs {@code forward} on a golden case and checks its file against LocalModel. */
final class ForwardOutput {
  private ForwardOutput() {}

  /**
   * Runs {@code forward} on the golden prompt and its greedy steps with {@code extra} arguments,
   * writing {@code dir/forward.safetensors}; fails the test if the command does.
   */
  static void run(GoldenCase golden, Path dir, String... extra) {
    int[] prompt = golden.promptIds();
    int steps = golden.greedyIds().length - 1;
    String[] base = {
      "forward",
      "--model",
      golden.dir().toString(),
      "--prompt-ids",
      Arrays.stream(prompt).mapToObj(String::valueOf).collect(Collectors.joining(",")),
      "--decode",
      String.valueOf(steps),
      "--out",
      dir.resolve("forward.safetensors").toString()
    };
    String[] args = Arrays.copyOf(base, base.length + extra.length);
    System.arraycopy(extra, 0, args, base.length, extra.length);
    CliRun r = CliRun.run(args);
    assertThat(r.exitCode()).as(r.err()).isZero();
  }

  /** {@code forward} with {@code extra} arguments; its output must equal LocalModel's. */
  static void assertEqualsLocalModel(GoldenCase golden, Path dir, String label, String... extra)
      throws Exception {
    int[] prompt = golden.promptIds();
    int steps = golden.greedyIds().length - 1;
    run(golden, dir, extra);
    try (LocalModel m = LocalModel.load(golden.dir(), AttentionMode.ABSORB);
        Checkpoint written = Checkpoint.open(dir, null)) {
      GreedyForward local = GreedyForward.run(m, prompt, steps);
      int vocab = m.config().vocabSize();
      assertClose(
          golden + " prefill, " + label,
          local.prefillLogits(),
          written.readFloats("prefill_logits", prompt.length, vocab),
          vocab,
          1e-5);
      assertClose(
          golden + " decode, " + label,
          local.decodeLogits(),
          written.readFloats("decode_logits", steps, vocab),
          vocab,
          1e-5);
      assertThat(written.readLongs("greedy_ids"))
          .as(golden + " greedy ids, " + label)
          .containsExactly(local.greedyIds());
    }
  }
}
