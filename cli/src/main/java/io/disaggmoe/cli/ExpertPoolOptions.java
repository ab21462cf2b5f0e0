package io.disaggmoe.cli;

import io.disaggmoe.attention.client.GrpcExpertExecutor;
import io.disaggmoe.model.LocalModel;
import io.disaggmoe.model.config.ModelConfigJson;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import picocli.CommandLine.Option;

/** {@code --expert-pools N}: run the routed experts in N local expert-service processes. */
final class ExpertPoolOptions {
  static final Duration DEADLINE = Duration.ofSeconds(60);

  @Option(
      names = "--expert-pools",
      defaultValue = "0",
      description = "start N expert-service processes on loopback and use them (default 0: none)")
  int pools;

  boolean enabled() {
    if (pools < 0) {
      throw new IllegalArgumentException("--expert-pools must be >= 0, got " + pools);
    }
    return pools > 0;
  }

  ExpertPoolProcesses start(ModelOptions model) throws IOException {
    return start(model, LaunchSecurity.plaintext());
  }

  ExpertPoolProcesses start(ModelOptions model, LaunchSecurity security) throws IOException {
    return ExpertPoolProcesses.start(model.model, pools, List.of(), security);
  }

  /** The model with its routed experts in the running pools. */
  static LocalModel loadRemote(ModelOptions model, ExpertPoolProcesses running) throws IOException {
    int experts = ModelConfigJson.read(model.model).nRoutedExperts();
    GrpcExpertExecutor remote =
        GrpcExpertExecutor.connect(running.targets(), experts, DEADLINE, running.channels());
    try {
      LocalModel m = LocalModel.load(model.model, model.mode(), remote);
      ServingHeap.afterLoading();
      return m;
    } catch (IOException | RuntimeException e) {
      remote.close();
      throw e;
    }
  }
}
