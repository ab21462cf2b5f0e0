package io.disaggmoe.cli;

import io.disaggmoe.kvcache.KvCacheServiceApplication;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One {@code disaggmoe serve ...} child process, started on this JVM's class path ({@link
 * #classPath}). Its port is known once it prints its service's ready line; {@link #close} stops it
 * with SIGTERM, so it shuts down cleanly.
 */
final class ServiceProcess implements AutoCloseable {
  private static final Pattern PORT = Pattern.compile("listening on port (\\d+)");

  private static final Duration START_TIMEOUT = Duration.ofSeconds(120);

  /** How a JVM ends on a fatal error of its own (SIGABRT after writing hs_err_pid*.log). */
  private static final int JVM_CRASH = 134;

  private final String name;
  // Replaced once if the first JVM, writing a class-data archive, crashes before listening.
  private volatile Process process;
  private final CompletableFuture<String> readyLine;
  private final CompletableFuture<Integer> port;
  // How long it may take to print its ready line: loading, plus its warm-up when it has one.
  private final Duration startTimeout;

  // Done once the process has exited and its class-data archive, if it wrote one, is in place.
  private volatile CompletableFuture<Void> exited;

  private ServiceProcess(
      String name,
      Process process,
      CompletableFuture<String> readyLine,
      Duration startTimeout,
      ClassDataArchive.Use archive) {
    this.name = name;
    this.process = process;
    this.exited = process.onExit().thenAccept(p -> archive.exited(p.exitValue()));
    this.readyLine = readyLine;
    this.startTimeout = startTimeout;
    this.port =
        readyLine.thenApply(
            line -> {
              Matcher m = PORT.matcher(line);
              m.find();
              return Integer.parseInt(m.group(1));
            });
  }

  /**
   * Starts {@code disaggmoe serve <args>}; the process must print a line starting with {@code
   * readyPrefix} that ends in "listening on port N".
   */
  static ServiceProcess start(String name, String readyPrefix, List<String> serveArgs)
      throws IOException {
    return start(name, readyPrefix, serveArgs, Map.of());
  }

  /**
   * An expert-service process. Its OpenMP threads sleep as soon as a call ends (unless the caller
   * chose a wait policy): a pool waits most of the time while attention runs, and idle threads
   * spinning there took the cores from the process doing the work (batch-32 decode over 2 pools on
   * 2 cores: 0.19 of monolithic with spinning pools, 0.67 with sleeping ones). The attention and
   * kv-cache processes keep libgomp's default, a short spin, since sleeping after each of a step's
   * hundreds of small parallel regions made a decode process 1.6x slower.
   */
  static ServiceProcess startExpertPool(
      String name, String readyPrefix, List<String> serveArgs, int threads) throws IOException {
    return start(
        name,
        readyPrefix,
        serveArgs,
        Map.of("OMP_WAIT_POLICY", "PASSIVE", "OMP_NUM_THREADS", String.valueOf(threads)));
  }

  /** As {@link #start(String, String, List)}, with variables the child's environment lacks. */
  static ServiceProcess start(
      String name, String readyPrefix, List<String> serveArgs, Map<String, String> defaultEnv)
      throws IOException {
    ClassDataArchive.Use archive = ClassDataArchive.forRole(serveArgs.getFirst(), classPath());
    Process p;
    try {
      p = launch(archive, serveArgs, defaultEnv);
    } catch (IOException e) {
      archive.exited(-1);
      throw e;
    }
    CompletableFuture<String> ready = new CompletableFuture<>();
    ServiceProcess started =
        new ServiceProcess(name, p, ready, START_TIMEOUT.plus(warmupOf(serveArgs)), archive);
    watch(p, name, readyPrefix)
        .whenComplete(
            (line, failed) -> {
              if (failed == null) {
                ready.complete(line);
              } else if (archive instanceof ClassDataArchive.Write && crashed(p)) {
                // JDK 25 can crash dumping a dynamic archive (seen once, in
                // LambdaProxyClassDictionary while a kv-cache process started): the service
                // starts again without writing one, and a later start writes it.
                System.err.println(
                    name
                        + ": the JVM crashed writing its class-data archive;"
                        + " starting it again without one");
                try {
                  Process again = launch(new ClassDataArchive.None(), serveArgs, defaultEnv);
                  started.replace(again);
                  watch(again, name, readyPrefix)
                      .whenComplete(
                          (l, e) -> {
                            if (e == null) {
                              ready.complete(l);
                            } else {
                              ready.completeExceptionally(e);
                            }
                          });
                } catch (IOException e) {
                  ready.completeExceptionally(e);
                }
              } else {
                ready.completeExceptionally(failed);
              }
            });
    return started;
  }

  private static Process launch(
      ClassDataArchive.Use archive, List<String> serveArgs, Map<String, String> defaultEnv)
      throws IOException {
    List<String> cmd = new ArrayList<>(javaCommand());
    cmd.addAll(1, archive.flags());
    cmd.add("serve");
    cmd.addAll(serveArgs);
    ProcessBuilder builder = new ProcessBuilder(cmd).redirectErrorStream(true);
    defaultEnv.forEach(builder.environment()::putIfAbsent);
    if (builder.environment().keySet().stream().anyMatch(k -> k.startsWith("OTEL_"))) {
      // Tracing is on: each process reports as its own service.
      builder.environment().putIfAbsent("OTEL_SERVICE_NAME", "disaggmoe-" + serveArgs.getFirst());
    }
    return ChildProcesses.register(builder.start());
  }

  /** Whether {@code p}, whose output ended, ended on a fatal error of the JVM itself. */
  private static boolean crashed(Process p) {
    try {
      return p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == JVM_CRASH;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  /** The process that took the place of a crashed one; it writes no archive. */
  private void replace(Process again) {
    process = again;
    exited = again.onExit().thenAccept(x -> {});
    restarted = true;
  }

  private volatile boolean restarted;

  /** Whether the first JVM crashed writing its archive and another took its place. */
  boolean restartedAfterCrash() {
    return restarted;
  }

  /** The {@code --warmup} among {@code serveArgs}, which the service runs before it is ready. */
  static Duration warmupOf(List<String> serveArgs) {
    for (int i = 0; i < serveArgs.size(); i++) {
      String a = serveArgs.get(i);
      if (a.startsWith("--warmup=")) {
        return ServeAttentionCommand.warmupDuration(a.substring("--warmup=".length()));
      }
      if (a.equals("--warmup") && i + 1 < serveArgs.size()) {
        return ServeAttentionCommand.warmupDuration(serveArgs.get(i + 1));
      }
    }
    return Duration.ZERO;
  }

  /** A {@code serve kv-cache} process on a loopback port, with {@code extra} arguments after. */
  static ServiceProcess kvCache(long capacityBytes, int blockTokens, String... extra)
      throws IOException {
    List<String> args = new ArrayList<>();
    args.addAll(
        List.of(
            "kv-cache",
            "--port",
            "0",
            "--host",
            "127.0.0.1",
            "--capacity",
            String.valueOf(capacityBytes),
            "--block-tokens",
            String.valueOf(blockTokens)));
    args.addAll(List.of(extra));
    return start("kv-cache-service", KvCacheServiceApplication.READY_PREFIX, args);
  }

  /** {@code 127.0.0.1:port} once the service listens. */
  String target() throws IOException {
    try {
      return "127.0.0.1:" + port.get(startTimeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException | ExecutionException | TimeoutException e) {
      process.destroyForcibly();
      Throwable cause = e instanceof ExecutionException ? e.getCause() : e;
      throw new IOException(name + " did not start: " + cause.getMessage(), cause);
    }
  }

  /** Kills every process at once, after a failed start; keeps the caller's interrupt status. */
  static void killAll(List<ServiceProcess> processes) {
    for (ServiceProcess p : processes) {
      try {
        p.kill();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /** Stops every process together (SIGTERM to all first), then waits for each. */
  static void closeAll(List<ServiceProcess> processes) throws InterruptedException {
    processes.forEach(ServiceProcess::stop);
    for (ServiceProcess p : processes) {
      p.close();
    }
  }

  long pid() {
    return process.pid();
  }

  boolean isAlive() {
    return process.isAlive();
  }

  /** Kills the process at once, as a crash would. */
  void kill() throws InterruptedException {
    process.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
  }

  /** SIGTERM without waiting; {@link #close} waits. */
  void stop() {
    process.destroy();
  }

  @Override
  public void close() throws InterruptedException {
    process.destroy();
    if (!process.waitFor(20, TimeUnit.SECONDS)) {
      process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }
    try {
      exited.get(10, TimeUnit.SECONDS);
    } catch (ExecutionException | TimeoutException e) {
      // The archive is an optimisation: without it the next start loads its classes again.
    }
  }

  /**
   * The command line of {@code disaggmoe} itself, as this process runs it, without arguments, for a
   * child that ends with this process.
   */
  static List<String> javaCommand() {
    return JvmOptions.javaCommand(classPath(), ChildProcesses.parentFlag());
  }

  /**
   * The class path child processes run on: {@code -Ddisaggmoe.class.path} where given, else this
   * JVM's. The cli module's tests give the same classes as jars (their own class directories hold
   * nothing a child needs, and a directory on the path keeps it from {@link ClassDataArchive}).
   */
  static String classPath() {
    return System.getProperty("disaggmoe.class.path", System.getProperty("java.class.path"));
  }

  /** The line the service printed when it was ready (its ports, what it serves). */
  String readyLine() throws IOException {
    target();
    return readyLine.join();
  }

  /** A log line at WARN or ERROR (Spring's format): shown with the service's name. */
  private static final Pattern WARNING = Pattern.compile("^[0-9:.]+ (WARN|ERROR) ");

  /**
   * Completes with the ready line once the child prints it. Warnings and errors are shown on this
   * process's stderr, and the last lines are kept for a start that fails.
   */
  private static CompletableFuture<String> watch(Process p, String name, String readyPrefix) {
    CompletableFuture<String> port = new CompletableFuture<>();
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
                  if (line.startsWith(readyPrefix) && m.find()) {
                    port.complete(line);
                  }
                  if (WARNING.matcher(line).find()) {
                    System.err.println(name + ": " + line);
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
}
