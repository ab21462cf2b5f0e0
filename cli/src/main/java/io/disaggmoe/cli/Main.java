package io.disaggmoe.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code disaggmoe} command. */
@Command(
    name = "disaggmoe",
    mixinStandardHelpOptions = true,
    version = "disaggmoe 0.1.0",
    description = "Serve DeepSeek-V3-family MoE models as disaggregated services.",
    subcommands = {
      UpCommand.class,
      ChatCommand.class,
      GenModelCommand.class,
      TokenizeCommand.class,
      ChatTemplateCommand.class,
      GenerateCommand.class,
      ForwardCommand.class,
      ServeCommand.class,
      BenchCommand.class,
      PlacementCommand.class,
      StatusCommand.class,
      RebalanceCommand.class,
      ChaosCommand.class,
      CommandLine.HelpCommand.class
    })
public final class Main {
  public static void main(String[] args) {
    ChildProcesses.exitWithParent();
    Telemetry.configureFromEnvironment();
    System.exit(commandLine().execute(args));
  }

  /** The command line with error handling that prints causes rather than stack traces. */
  public static CommandLine commandLine() {
    CommandLine cl = new CommandLine(new Main());
    cl.setExecutionExceptionHandler(
        (e, cmd, parsed) -> {
          cmd.getErr().println("disaggmoe: " + e.getMessage());
          if (System.getenv("DISAGGMOE_DEBUG") != null) {
            e.printStackTrace(cmd.getErr());
          }
          return 1;
        });
    return cl;
  }
}
