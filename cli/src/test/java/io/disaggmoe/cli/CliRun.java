package io.disaggmoe.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import picocli.CommandLine;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** One in-process run of the {@code disaggmoe} command line, with what it printed. */
record CliRun(int exitCode, String out, String err) {

  static CliRun run(String... args) {
    PrintStream original = System.out;
    ByteArrayOutputStream captured = new ByteArrayOutputStream();
    StringWriter err = new StringWriter();
    System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
    try {
      CommandLine cl = Main.commandLine();
      cl.setErr(new PrintWriter(err, true));
      int code = cl.execute(args);
      return new CliRun(code, captured.toString(StandardCharsets.UTF_8), err.toString());
    } finally {
      System.setOut(original);
    }
  }

  /** The JSON a {@code --json} run printed, once it has exited with 0. */
  static JsonNode json(String... args) {
    CliRun r = run(args);
    assertThat(r.exitCode()).as(r.err()).isZero();
    return JsonMapper.shared().readTree(r.out());
  }
}
