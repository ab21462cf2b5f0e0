package io.disaggmoe.proto.spring;

import io.disaggmoe.proto.telemetry.StageMetrics;
import io.disaggmoe.proto.wire.TransportSecurity;
import java.util.function.Supplier;
import org.springframework.context.event.EventListener;
import org.springframework.grpc.server.lifecycle.GrpcServerStartedEvent;

/**
 * Prints one line on stdout once a stage's gRPC server listens, with the bound port (the settings
 * may say 0): launchers such as {@code up} and {@code forward --split} wait for {@link
 * #prefix}{@code (service)} and read the port from the line.
 */
public final class ReadyAnnouncer {
  private final String service;
  private final Supplier<String> details;
  private final StageMetrics metrics;
  private final TransportSecurity security;

  /** {@code details} is read when the server starts: what the stage holds, in a few words. */
  public ReadyAnnouncer(
      String service, Supplier<String> details, StageMetrics metrics, TransportSecurity security) {
    this.service = service;
    this.details = details;
    this.metrics = metrics;
    this.security = security;
  }

  /** The start of {@code service}'s ready line. */
  public static String prefix(String service) {
    return "disaggmoe " + service + " ready: ";
  }

  @EventListener
  public void onStarted(GrpcServerStartedEvent event) {
    System.out.println(
        prefix(service)
            + details.get()
            + ", listening on port "
            + event.getPort()
            + (security.enabled() ? " with mutual TLS" : "")
            + metrics.readySuffix());
    System.out.flush();
  }
}
