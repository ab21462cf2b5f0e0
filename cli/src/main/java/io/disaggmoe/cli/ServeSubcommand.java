package io.disaggmoe.cli;

/** A {@code serve} subcommand: the service its options describe. */
interface ServeSubcommand {
  ServiceSpec spec();
}
