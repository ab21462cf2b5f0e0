package io.disaggmoe.cli;

import io.disaggmoe.expert.ExpertServiceApplication;
import io.disaggmoe.proto.wire.StageChannels;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** N {@code disaggmoe serve expert} processes on loopback ports, stopped on close. */
final class ExpertPoolProcesses implements AutoCloseable {
  /**
   * These pools share the machine's cores with the attention process that calls them, so their
   * expert passes yield to it: a micro-batch's attention then reaches the pools while the other's
   * passes are still being made, and joins them (bench preset, batch 32, overlap on: 2.38 against
   * 3.08 expert GB per step at equal priority).
   */
  static final int COMPUTE_NICE = 10;

  private final List<ServiceProcess> processes;
  private final List<String> targets;
  private final List<List<String>> args;
  private final LaunchSecurity security;

  private ExpertPoolProcesses(
      List<ServiceProcess> processes,
      List<String> targets,
      List<List<String>> args,
      LaunchSecurity security) {
    this.processes = processes;
    this.targets = targets;
    this.args = args;
    this.security = security;
  }

  /** Starts pools {@code 0/n .. n-1/n}; {@code replicas.get(i)} are pool i's extra experts. */
  static ExpertPoolProcesses start(Path model, int n, List<List<Integer>> replicas)
      throws IOException {
    return start(model, n, replicas, LaunchSecurity.plaintext());
  }

  /** As above, the pools serving with {@code security}. */
  static ExpertPoolProcesses start(
      Path model, int n, List<List<Integer>> replicas, LaunchSecurity security) throws IOException {
    List<ServiceProcess> processes = new ArrayList<>();
    List<List<String>> allArgs = new ArrayList<>();
    try {
      for (int i = 0; i < n; i++) {
        List<String> args =
            new ArrayList<>(
                List.of(
                    "expert",
                    "--model",
                    model.toAbsolutePath().toString(),
                    "--pool",
                    i + "/" + n,
                    "--port",
                    "0",
                    "--host",
                    "127.0.0.1",
                    "--compute-nice",
                    String.valueOf(COMPUTE_NICE)));
        List<Integer> extra = i < replicas.size() ? replicas.get(i) : List.of();
        if (!extra.isEmpty()) {
          args.add("--replicas");
          args.add(String.join(",", extra.stream().map(String::valueOf).toList()));
        }
        args.addAll(security.serveArgs());
        allArgs.add(args);
        processes.add(
            ServiceProcess.startExpertPool(
                "expert pool " + i + "/" + n,
                ExpertServiceApplication.READY_PREFIX,
                args,
                threadsPerPool(n)));
      }
      List<String> targets = new ArrayList<>();
      for (ServiceProcess p : processes) {
        targets.add(p.target());
      }
      return new ExpertPoolProcesses(processes, targets, allArgs, security);
    } catch (IOException | RuntimeException e) {
      ServiceProcess.killAll(processes);
      throw e;
    }
  }

  /**
   * The machine's cores shared out among the pools: more OpenMP threads than cores make every
   * parallel region of a pass wait for a thread the other pool has descheduled.
   */
  static int threadsPerPool(int pools) {
    return Math.max(1, Runtime.getRuntime().availableProcessors() / pools);
  }

  /** {@code host:port} of each pool, in pool order. */
  List<String> targets() {
    return targets;
  }

  /** Channels to the pools, with the security they serve with. */
  StageChannels channels() {
    return security.channels();
  }

  /** Kills pool {@code i} at once, as a crash would. */
  void kill(int i) throws InterruptedException {
    processes.get(i).kill();
  }

  /** Starts pool {@code i} again on its address, as a supervisor would after {@link #kill}. */
  void restart(int i) throws IOException {
    List<String> a = new ArrayList<>(args.get(i));
    String target = targets.get(i);
    a.set(a.indexOf("--port") + 1, target.substring(target.lastIndexOf(':') + 1));
    ServiceProcess p =
        ServiceProcess.startExpertPool(
            "expert pool " + i + "/" + args.size() + " (restarted)",
            ExpertServiceApplication.READY_PREFIX,
            a,
            threadsPerPool(args.size()));
    processes.set(i, p);
    p.target();
  }

  @Override
  public void close() throws InterruptedException {
    ServiceProcess.closeAll(processes);
  }
}
