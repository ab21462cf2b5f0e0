package io.disaggmoe.cli;

import io.disaggmoe.expert.config.ReadyAnnouncer;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * N {@code disaggmoe serve expert} processes on loopback ports, started with this JVM's classpath
 * and stopped (SIGTERM, so they shut down cleanly) on close.
 */
final class ExpertPoolProcesses implements AutoCloseable {
  private static final Pattern PORT = Pattern.compile("listening on port (\\d+)");

  private final List<Process> processes;
  private final List<String> targets;

  private ExpertPoolProcesses(List<Process> processes, List<String> targets) {
    this.processes = processes;
    this.targets = targets;
  }

  /** Starts pools {@code 0/n .. n-1/n}; {@code replicas.get(i)} are pool i's extra experts. */
  static ExpertPoolProcesses start(Path model, int n, List<List<Integer>> replicas)
      throws IOException {
    List<Process> processes = new ArrayList<>();
    List<CompletableFuture<Integer>> ports = new ArrayList<>();
    try {
      for (int i = 0; i < n; i++) {
        List<String> cmd = new ArrayList<>(javaCommand());
        cmd.addAll(
            List.of(
                "serve",
                "expert",
                "--model",
                model.toAbsolutePath().toString(),
                "--pool",
                i + "/" + n,
                "--port",
                "0",
                "--host",
                "127.0.0.1"));
        List<Integer> extra = i < replicas.size() ? replicas.get(i) : List.of();
        if (!extra.isEmpty()) {
          cmd.add("--replicas");
          cmd.add(String.join(",", extra.stream().map(String::valueOf).toList()));
        }
        ProcessBuilder builder = new ProcessBuilder(cmd).redirectErrorStream(true);
        // Idle OpenMP threads spinning in a pool would take the CPU from the attention process
        // (and the other pools) on the same machine.
        builder.environment().putIfAbsent("OMP_WAIT_POLICY", "PASSIVE");
        Process p = builder.start();
        processes.add(p);
        ports.add(watch(p, "expert pool " + i + "/" + n));
      }
      List<String> targets = new ArrayList<>();
      for (CompletableFuture<Integer> port : ports) {
        targets.add("127.0.0.1:" + port.get(120, TimeUnit.SECONDS));
      }
      return new ExpertPoolProcesses(processes, targets);
    } catch (InterruptedException | ExecutionException | TimeoutException e) {
      processes.forEach(Process::destroyForcibly);
      Throwable cause = e instanceof ExecutionException ? e.getCause() : e;
      throw new IOException("expert pools did not start: " + cause.getMessage(), cause);
    }
  }

  /** {@code host:port} of each pool, in pool order. */
  List<String> targets() {
    return targets;
  }

  /** Kills pool {@code i} at once, as a crash would. */
  void kill(int i) throws InterruptedException {
    processes.get(i).destroyForcibly().waitFor(30, TimeUnit.SECONDS);
  }

  private static List<String> javaCommand() {
    String java =
        ProcessHandle.current()
            .info()
            .command()
            .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    return List.of(
        java,
        "--enable-native-access=ALL-UNNAMED",
        "-Dai.djl.offline=true",
        "-cp",
        System.getProperty("java.class.path"),
        Main.class.getName());
  }

  /** Completes with the port once the child announces it; its other output is kept for errors. */
  private static CompletableFuture<Integer> watch(Process p, String name) {
    CompletableFuture<Integer> port = new CompletableFuture<>();
    Thread reader =
        new Thread(
            () -> {
              Deque<String> tail = new ArrayDeque<>();
              try (BufferedReader r =
                  new BufferedReader(
                      new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                  Matcher m = PORT.matcher(line);
                  if (line.startsWith(ReadyAnnouncer.PREFIX) && m.find()) {
                    port.complete(Integer.parseInt(m.group(1)));
                  }
                  tail.addLast(line);
                  if (tail.size() > 20) {
                    tail.removeFirst();
                  }
                }
              } catch (IOException ignored) {
                // The process is gone; the failure below says what it printed.
              }
              port.completeExceptionally(
                  new IOException(
                      name + " exited before listening; it printed:\n" + String.join("\n", tail)));
            },
            name + " output");
    reader.setDaemon(true);
    reader.start();
    return port;
  }

  @Override
  public void close() throws InterruptedException {
    processes.forEach(Process::destroy);
    for (Process p : processes) {
      if (!p.waitFor(20, TimeUnit.SECONDS)) {
        p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
    }
  }
}
