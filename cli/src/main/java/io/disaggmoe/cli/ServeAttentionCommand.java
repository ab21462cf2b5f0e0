package io.disaggmoe.cli;

import io.disaggmoe.attention.AttentionServiceApplication;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code disaggmoe serve attention}: an attention instance using remote expert pools. */
@Command(
    name = "attention",
    mixinStandardHelpOptions = true,
    description = "Serve attention, dense layers and LM head, with routed experts in pools.")
final class ServeAttentionCommand implements Callable<Integer> {
  @Option(names = "--model", required = true, description = "checkpoint directory")
  Path model;

  @Option(
      names = "--experts",
      required = true,
      split = ",",
      description = "expert pool addresses, HOST:PORT,...")
  List<String> experts;

  @Option(names = "--port", defaultValue = "50051", description = "gRPC port")
  int port;

  @Option(names = "--host", defaultValue = "0.0.0.0", description = "address to bind")
  String host;

  @Option(names = "--attn", defaultValue = "absorb", description = "absorb or naive")
  String attn;

  @Option(
      names = "--overlap",
      defaultValue = "true",
      negatable = true,
      description = "two overlapping micro-batches per decode step (default on)")
  boolean overlap;

  @Override
  public Integer call() throws Exception {
    Map<String, String> p = new LinkedHashMap<>();
    p.put("spring.grpc.server.port", String.valueOf(port));
    p.put("spring.grpc.server.address", host);
    p.put("disaggmoe.attention.model", model.toAbsolutePath().toString());
    p.put("disaggmoe.attention.experts", String.join(",", experts));
    p.put("disaggmoe.attention.attn", attn);
    p.put("disaggmoe.attention.overlap", String.valueOf(overlap));
    return SpringServices.runUntilStopped(AttentionServiceApplication.class, p);
  }
}
