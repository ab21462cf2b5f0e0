package io.disaggmoe.cli;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * A {@code serve} subcommand: the service its options describe, run in this JVM until the process
 * is told to stop, or started by a launcher in its own JVM from {@link #spec()}.
 */
interface ServeSubcommand extends Callable<Integer> {
  /** The service, as a launcher starts it. */
  ServiceSpec spec();

  @Override
  default Integer call() throws Exception {
    ClassDataArchive.crashWhileWritingIfAsked();
    return SpringServices.runUntilStopped(spec());
  }

  /** Spring properties that bind a service's gRPC server to {@code host:port}, more to follow. */
  static Map<String, String> grpcServer(int port, String host) {
    Map<String, String> p = new LinkedHashMap<>();
    p.put("spring.grpc.server.port", String.valueOf(port));
    p.put("spring.grpc.server.address", host);
    return p;
  }
}
