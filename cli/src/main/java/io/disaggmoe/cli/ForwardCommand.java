package io.disaggmoe.cli;

import io.disaggmoe.attention.client.KvDtype;
import io.disaggmoe.model.GreedyForward;
import io.disaggmoe.model.LocalModel;
import io.disaggmoe.model.config.ModelConfigJson;
import io.disaggmoe.model.weights.SafetensorsWriter;
import io.disaggmoe.model.weights.SafetensorsWriter.PendingTensor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
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
  @Mixin ModelOptions options;

  @Mixin ExpertPoolOptions pools;

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

  @Option(names = "--out", required = true, description = "output safetensors file")
  Path out;

  @Option(
      names = "--split",
      description =
          "prefill and decode on two attention-service processes through a kv-cache-service")
  boolean split;

  @Option(
      names = "--kv-block-tokens",
      defaultValue = "64",
      description = "with --split: tokens per kv-cache block (default ${DEFAULT-VALUE})")
  int kvBlockTokens;

  @Option(
      names = "--kv-dtype",
      defaultValue = "f32",
      description =
          "with --split: dtype of the latent blocks between prefill and decode, f32 or bf16"
              + " (default ${DEFAULT-VALUE})")
  String kvDtype;

  @Option(
      names = "--tls",
      description =
          "with --split or --expert-pools: the services speak mutual TLS 1.3, with a CA and"
              + " certificates made for this run")
  boolean tls;

  @Override
  public Integer call() throws Exception {
    if (decode < 0) {
      throw new IllegalArgumentException("--decode must be >= 0, got " + decode);
    }
    if (tls && !split && !pools.enabled()) {
      throw new IllegalArgumentException("--tls secures services: give --split or --expert-pools");
    }
    if (split) {
      try (LaunchSecurity security = LaunchSecurity.of(tls);
          ExpertPoolProcesses running = pools.enabled() ? pools.start(options, security) : null;
          SplitDeployment services =
              SplitDeployment.start(
                  options,
                  running == null ? List.of() : running.targets(),
                  kvBlockTokens,
                  KvDtype.parse(kvDtype),
                  security)) {
        int vocab = ModelConfigJson.read(options.model).vocabSize();
        write(SplitForward.run(services, promptIds, decode, vocab));
      }
    } else if (pools.enabled()) {
      try (LaunchSecurity security = LaunchSecurity.of(tls);
          ExpertPoolProcesses running = pools.start(options, security);
          LocalModel m = ExpertPoolOptions.loadRemote(options, running)) {
        write(m);
      }
    } else {
      try (LocalModel m = options.loadLocal()) {
        write(m);
      }
    }
    return 0;
  }

  private void write(LocalModel m) throws IOException {
    write(GreedyForward.run(m, promptIds, decode));
  }

  private void write(GreedyForward r) throws IOException {
    int vocab = r.prefillLogits().length / promptIds.length;
    SafetensorsWriter.write(
        out,
        List.of(
            PendingTensor.f32(
                "prefill_logits", new long[] {promptIds.length, vocab}, r.prefillLogits()),
            PendingTensor.f32("decode_logits", new long[] {decode, vocab}, r.decodeLogits()),
            PendingTensor.i64("greedy_ids", new long[] {decode + 1}, r.greedyIds())));
    System.out.println("greedy_ids " + Arrays.toString(r.greedyIds()) + " -> " + out);
  }
}
