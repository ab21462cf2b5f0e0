package io.disaggmoe.tests;

import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.cli.JvmOptions;
import io.disaggmoe.model.gen.CheckpointGenerator;
import io.disaggmoe.model.gen.Preset;
import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code disaggmoe up --processes} as a user runs it: a child JVM that starts every service as its
 * own process and writes the state file; closing it sends SIGTERM, as Ctrl-C would.
 */
final class RunningSuite implements AutoCloseable {
  private static final Path MODEL = Path.of("target", "models", "tiny").toAbsolutePath();

  private final Process up;
  private final Path state;
  private final JsonNode services;
  private final String url;
  private final String generateService;
  private final String controlPlane;
  private final List<String> output;

  private RunningSuite(Process up, Path state, JsonNode root, List<String> output) {
    this.up = up;
    this.state = state;
    this.services = root.get("services");
    this.url = root.get("gateway_url").asString();
    this.generateService = root.get("generate_service").asString();
    this.controlPlane = root.get("control_plane").asString();
    this.output = output;
  }

  /** The embedded default model (tiny preset, seed 0), generated once per build. */
  static synchronized Path model() throws IOException {
    if (!Files.isRegularFile(MODEL.resolve("config.json"))) {
      CheckpointGenerator.generate(Preset.TINY.config(), 0, Preset.TINY.shards(), MODEL);
    }
    return MODEL;
  }

  /**
   * The command line of {@code disaggmoe ARGS} in a new JVM on this one's class path, with the
   * flags {@code ./disaggmoe} passes, printing UTF-8 whatever the locale (the tests read its output
   * as UTF-8).
   */
  static List<String> command(String... args) {
    List<String> cmd =
        new ArrayList<>(JvmOptions.javaCommand(classPath(), "-Dstdout.encoding=UTF-8"));
    cmd.addAll(List.of(args));
    return cmd;
  }

  /**
   * This JVM's class path without this module's own class directories (which may not even exist):
   * disaggmoe needs none of their classes, and a directory on the path keeps the service processes
   * from sharing class data (ClassDataArchive), which cuts each start's CPU by a fifth.
   */
  static String classPath() {
    Path target;
    try {
      target =
          Path.of(RunningSuite.class.getProtectionDomain().getCodeSource().getLocation().toURI())
              .getParent();
    } catch (java.net.URISyntaxException e) {
      throw new IllegalStateException(e);
    }
    return Arrays.stream(System.getProperty("java.class.path").split(File.pathSeparator))
        .filter(e -> e.endsWith(".jar") || !Path.of(e).toAbsolutePath().startsWith(target))
        .collect(Collectors.joining(File.pathSeparator));
  }

  /** {@code disaggmoe ARGS} as a child process of this JVM, its stderr merged into stdout. */
  static Process disaggmoeProcess(String... args) throws IOException {
    return new ProcessBuilder(command(args)).redirectErrorStream(true).start();
  }

  /** {@code disaggmoe serve ARGS} as a child process of this JVM, its output discarded. */
  static Process serve(String... args) throws IOException {
    List<String> cmd = command("serve");
    cmd.addAll(List.of(args));
    return new ProcessBuilder(cmd)
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.DISCARD)
        .start();
  }

  /**
   * {@code up --processes} on the embedded model, its gateway on a free port, its state file in
   * {@code work}, then {@code upArgs}.
   */
  static List<String> upCommand(Path work, String... upArgs) throws IOException {
    List<String> cmd =
        command(
            "up",
            "--processes",
            "--model",
            model().toString(),
            "--port",
            "0",
            "--state",
            stateFile(work).toString());
    cmd.addAll(List.of(upArgs));
    return cmd;
  }

  private static Path stateFile(Path work) {
    return work.resolve("up.json");
  }

  static RunningSuite start(Path work, String... upArgs) throws Exception {
    Path state = stateFile(work);
    Process p = new ProcessBuilder(upCommand(work, upArgs)).redirectErrorStream(true).start();
    List<String> output = java.util.Collections.synchronizedList(new ArrayList<>());
    Thread reader =
        new Thread(
            () -> {
              try (BufferedReader r =
                  new BufferedReader(
                      new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                  output.add(line);
                }
              } catch (IOException ignored) {
                // The process ended.
              }
            });
    reader.setDaemon(true);
    reader.start();
    long started = System.nanoTime();
    long deadline = started + TimeUnit.MINUTES.toNanos(4);
    while (!Files.exists(state)) {
      if (!p.isAlive() || System.nanoTime() > deadline) {
        p.destroyForcibly();
        throw new IllegalStateException(
            "disaggmoe up did not come up; it printed:\n" + String.join("\n", output));
      }
      Thread.sleep(100);
    }
    // In the test log: a suite's start is most of a process test's time, and varies with the VM.
    System.out.printf(
        "disaggmoe up --processes %s ready after %d ms%n",
        String.join(" ", upArgs), (System.nanoTime() - started) / 1_000_000);
    return new RunningSuite(p, state, JsonMapper.shared().readTree(state.toFile()), output);
  }

  String url() {
    return url;
  }

  /** {@code host:port} of the gateway's gRPC GenerateService. */
  String generateService() {
    return generateService;
  }

  /** {@code host:port} of the control plane. */
  String controlPlane() {
    return controlPlane;
  }

  /** {@code host:port} and pid of every service of a role, in the state file's order. */
  List<JsonNode> services(String role) {
    List<JsonNode> out = new ArrayList<>();
    for (JsonNode s : services) {
      if (s.get("role").asString().equals(role)) {
        out.add(s);
      }
    }
    return out;
  }

  String output() {
    synchronized (output) {
      return String.join("\n", output);
    }
  }

  /** SIGTERM, as Ctrl-C: every service stops and the state file goes. */
  @Override
  public void close() throws Exception {
    up.destroy();
    boolean exited = up.waitFor(60, TimeUnit.SECONDS);
    if (!exited) {
      up.destroyForcibly();
    }
    for (JsonNode s : services) {
      ProcessHandle.of(s.get("pid").asLong()).ifPresent(ProcessHandle::destroyForcibly);
    }
    assertThat(exited).as("disaggmoe up stopped on SIGTERM").isTrue();
    assertThat(state).as("the state file is removed on exit").doesNotExist();
  }
}
