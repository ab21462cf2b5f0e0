package io.disaggmoe.cli;

import io.disaggmoe.attention.AttentionServiceApplication;
import io.disaggmoe.attention.client.KvDtype;
import io.disaggmoe.proto.wire.StageChannels;
import io.grpc.ManagedChannel;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * A kv-cache-service process and two attention-service processes, one per role, on loopback ports;
 * the attention instances use the given expert pools, or run the routed experts themselves.
 */
final class SplitDeployment implements AutoCloseable {
  private final List<ServiceProcess> processes;
  private final String prefill;
  private final String decode;
  private final LaunchSecurity security;

  private SplitDeployment(
      List<ServiceProcess> processes, String prefill, String decode, LaunchSecurity security) {
    this.processes = processes;
    this.prefill = prefill;
    this.decode = decode;
    this.security = security;
  }

  static SplitDeployment start(ModelOptions model, List<String> expertPools, int blockTokens)
      throws IOException {
    return start(model, expertPools, blockTokens, KvDtype.F32, LaunchSecurity.plaintext());
  }

  /**
   * As above, with the attention roles putting latent blocks as {@code kvDtype}, and every service
   * speaking with {@code security}.
   */
  static SplitDeployment start(
      ModelOptions model,
      List<String> expertPools,
      int blockTokens,
      KvDtype kvDtype,
      LaunchSecurity security)
      throws IOException {
    List<ServiceProcess> processes = new ArrayList<>();
    try {
      // 1 GiB, the service's default budget: a forward never comes near it.
      ServiceProcess kv =
          ServiceProcess.kvCache(
              1L << 30, blockTokens, security.serveArgs().toArray(String[]::new));
      processes.add(kv);
      String kvTarget = kv.target();
      for (String role : List.of("prefill", "decode")) {
        List<String> args =
            new ArrayList<>(
                List.of(
                    "attention",
                    "--role",
                    role,
                    "--model",
                    model.model.toAbsolutePath().toString(),
                    "--attn",
                    model.attn,
                    "--kv-cache",
                    kvTarget,
                    "--kv-dtype",
                    kvDtype.name(),
                    "--port",
                    "0",
                    "--host",
                    "127.0.0.1"));
        if (!expertPools.isEmpty()) {
          args.add("--experts");
          args.add(String.join(",", expertPools));
        }
        args.addAll(security.serveArgs());
        processes.add(
            ServiceProcess.start(
                role + " attention", AttentionServiceApplication.READY_PREFIX, args));
      }
      return new SplitDeployment(
          processes, processes.get(1).target(), processes.get(2).target(), security);
    } catch (IOException | RuntimeException e) {
      ServiceProcess.killAll(processes);
      throw e;
    }
  }

  /** A channel to one of the instances, for responses of any size (logits). */
  ManagedChannel channel(String target) {
    return security.channels().open(target, StageChannels.Kind.LARGE_REPLIES);
  }

  String prefillTarget() {
    return prefill;
  }

  String decodeTarget() {
    return decode;
  }

  @Override
  public void close() throws InterruptedException {
    ServiceProcess.closeAll(processes);
  }
}
