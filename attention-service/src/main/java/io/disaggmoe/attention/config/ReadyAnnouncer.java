package io.disaggmoe.attention.config;

import org.springframework.context.event.EventListener;
import org.springframework.grpc.server.lifecycle.GrpcServerStartedEvent;
import org.springframework.stereotype.Component;

/** Prints one line on stdout once the server listens, with the bound port, for launchers. */
@Component
public class ReadyAnnouncer {
  public static final String PREFIX = "disaggmoe attention-service ready: ";

  private final AttentionServiceProperties properties;

  public ReadyAnnouncer(AttentionServiceProperties properties) {
    this.properties = properties;
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
            + event.getPort());
    System.out.flush();
  }
}
