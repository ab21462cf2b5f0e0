package io.disaggmoe.cli;

import io.disaggmoe.model.GreedyForward;
import io.disaggmoe.model.LocalModel;
import io.disaggmoe.model.layer.AttentionMode;
import io.disaggmoe.model.weights.SafetensorsWriter;
import io.disaggmoe.model.weights.SafetensorsWriter.PendingTensor;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code disaggmoe forward}: prefill the given ids, greedy-decode, and write the logits in the
 * layout of the golden data.
 */
@Command(
    name = "forward",
    mixinStandardHelpOptions = true,
    description =
        "Run a prompt through the model and write prefill_logits, decode_logits, greedy_ids.")
final class ForwardCommand implements Callable<Integer> {
  @Option(names = "--model", required = true, description = "checkpoint directory")
  Path model;

  @Option(
      names = "--prompt-ids",
      required = true,
      split = ",",
      description = "token ids, as given (no BOS added)")
  int[] promptIds;

  @Option(
      names = "--decode",
      defaultValue = "0",
      description = "greedy decode steps (default ${DEFAULT-VALUE})")
  int decode;

  @Option(
      names = "--attn",
      defaultValue = "absorb",
      description = "absorb or naive (default ${DEFAULT-VALUE})")
  String attn;

  @Option(names = "--out", required = true, description = "output safetensors file")
  Path out;

  @Override
  public Integer call() throws Exception {
    if (decode < 0) {
      throw new IllegalArgumentException("--decode must be >= 0, got " + decode);
    }
    AttentionMode mode = parseMode(attn);
    try (LocalModel m = LocalModel.load(model, mode)) {
      int vocab = m.config().vocabSize();
      GreedyForward r = GreedyForward.run(m, promptIds, decode);
      SafetensorsWriter.write(
          out,
          List.of(
              PendingTensor.f32(
                  "prefill_logits", new long[] {promptIds.length, vocab}, r.prefillLogits()),
              PendingTensor.f32("decode_logits", new long[] {decode, vocab}, r.decodeLogits()),
              PendingTensor.i64("greedy_ids", new long[] {decode + 1}, r.greedyIds())));
      System.out.println("greedy_ids " + java.util.Arrays.toString(r.greedyIds()) + " -> " + out);
    }
    return 0;
  }

  static AttentionMode parseMode(String name) {
    return switch (name.toLowerCase(Locale.ROOT)) {
      case "absorb" -> AttentionMode.ABSORB;
      case "naive" -> AttentionMode.NAIVE;
      default ->
          throw new IllegalArgumentException("--attn must be absorb or naive, got '" + name + "'");
    };
  }
}
