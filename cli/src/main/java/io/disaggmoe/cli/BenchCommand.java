package io.disaggmoe.cli;

import picocli.CommandLine.Command;

/** {@code disaggmoe bench}: benchmarks whose results are reported as ratios from one run. */
@Command(
    name = "bench",
    mixinStandardHelpOptions = true,
    description = "Benchmarks.",
    subcommands = {
      DecodeBenchCommand.class,
      PrefillBenchCommand.class,
      RpcBenchCommand.class,
      KvBenchCommand.class,
      ServeBenchCommand.class,
      KernelBenchCommand.class
    })
final class BenchCommand {}
