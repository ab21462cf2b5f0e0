package io.disaggmoe.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * {@code disaggmoe bench serve} as its own process against a gateway, as an operator would run it
 * beside a fault: {@link #start} returns once it sends, and its requests come back from its {@code
 * --save-detailed} file.
 */
final class BenchServeProcess implements AutoCloseable {
  private final Process process;
  private final Path detailed;
  private final Path log;

  private BenchServeProcess(Process process, Path detailed, Path log) {
    this.process = process;
    this.detailed = detailed;
    this.log = log;
  }

  /**
   * Starts {@code requests} requests at {@code rate} per second (Poisson), each {@code inputLen}
   * random prompt tokens and exactly {@code outputLen} output tokens.
   */
  static BenchServeProcess start(
      String url, String apiKey, double rate, int requests, int inputLen, int outputLen, long seed)
      throws IOException {
    Path dir = Files.createTempDirectory("disaggmoe-bench-serve");
    Path detailed = dir.resolve("detailed.json");
    Path log = dir.resolve("bench-serve.log");
    List<String> cmd = new ArrayList<>(ServiceProcess.javaCommand());
    cmd.addAll(
        List.of(
            "bench",
            "serve",
            "--url",
            url,
            "--rate",
            String.format(Locale.ROOT, "%s", rate),
            "--requests",
            String.valueOf(requests),
            "--input-len",
            String.valueOf(inputLen),
            "--output-len",
            String.valueOf(outputLen),
            "--seed",
            String.valueOf(seed),
            "--json",
            "--save-detailed",
            detailed.toString()));
    ProcessBuilder builder =
        new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
    if (apiKey != null) {
      builder.environment().put("OPENAI_API_KEY", apiKey);
    }
    BenchServeProcess started =
        new BenchServeProcess(ChildProcesses.register(builder.start()), detailed, log);
    started.awaitLoad();
    return started;
  }

  /** Returns once the process has begun its timed requests (past its JVM's start). */
  private void awaitLoad() throws IOException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(START_SECONDS);
    while (!Files.readString(log).contains(ServeBenchCommand.LOAD_STARTS)) {
      if (!process.isAlive() || System.nanoTime() > deadline) {
        process.destroyForcibly();
        throw new IOException("bench serve did not start its load; " + output());
      }
      try {
        Thread.sleep(50);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        process.destroyForcibly();
        throw new IOException("interrupted while bench serve started", e);
      }
    }
  }

  private static final long START_SECONDS = 120;

  /** Waits for the run to end and returns its requests on this process's clock. */
  List<RequestTiming> finish(long timeoutSeconds) throws IOException, InterruptedException {
    if (!process.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
      process.destroyForcibly();
      throw new IOException("bench serve did not finish in " + timeoutSeconds + " s; " + output());
    }
    if (!Files.exists(detailed)) {
      throw new IOException(
          "bench serve exited with " + process.exitValue() + " and no results; " + output());
    }
    return DetailedTimings.read(detailed);
  }

  private String output() throws IOException {
    return "it printed:\n" + Files.readString(log);
  }

  /** Kills the process if it still runs, and removes its files. */
  @Override
  public void close() throws IOException, InterruptedException {
    process.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
    Files.deleteIfExists(detailed);
    Files.deleteIfExists(log);
    Files.deleteIfExists(log.getParent());
  }
}
