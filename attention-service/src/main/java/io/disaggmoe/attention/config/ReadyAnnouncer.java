package io.disaggmoe.attention.config;

import io.disaggmoe.proto.telemetry.StageMetrics;
import org.springframework.context.event.EventListener;
import org.springframework.grpc.server.lifecycle.GrpcServerStartedEvent;
import org.springframework.stereotype.Component;

/** Prints one line on stdout once the server listens, with the bound port, for launchers. */
@Component
public class ReadyAnnouncer {
  public static final String PREFIX = "disaggmoe attention-service ready: ";

  private final AttentionServiceProperties properties;
  private final StageMetrics metrics;

  public ReadyAnnouncer(AttentionServiceProperties properties, StageMetrics metrics) {
    this.properties = properties;
    this.metrics = metrics;
  }

  @EventListener
  public void onStarted(GrpcServerStartedEvent event) {
    System.out.println(
        PREFIX
            + "role "
            + properties.role()
            + ", "
            + properties.experts().size()
            + " expert pools, listening on port "
            + event.getPort()
            + metrics.readySuffix());
    System.out.flush();
  }
}
