package io.disaggmoe.cli;

import picocli.CommandLine.Command;

/** {@code disaggmoe serve}: run one of the services in this process. */
@Command(
    name = "serve",
    mixinStandardHelpOptions = true,
    description = "Run a service.",
    subcommands = {
      ServeExpertCommand.class,
      ServeAttentionCommand.class,
      ServeKvCacheCommand.class,
      ServeGatewayCommand.class,
      ServeControlPlaneCommand.class
    })
final class ServeCommand {}
