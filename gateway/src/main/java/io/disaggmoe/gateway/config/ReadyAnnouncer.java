package io.disaggmoe.gateway.config;

import org.springframework.boot.context.event.ApplicationReadyEvent;
import org.springframework.boot.web.server.context.WebServerInitializedEvent;
import org.springframework.context.event.EventListener;
import org.springframework.grpc.server.lifecycle.GrpcServerStartedEvent;
import org.springframework.stereotype.Component;

/**
 * Prints one line on stdout once the HTTP and gRPC servers both listen, with their ports, for
 * launchers: "... listening on port HTTP, GenerateService on gRPC port G".
 */
@Component
public class ReadyAnnouncer {
  public static final String PREFIX = "disaggmoe gateway ready: ";

  private final GatewayProperties properties;
  private volatile int httpPort = -1;
  private volatile int grpcPort = -1;

  public ReadyAnnouncer(GatewayProperties properties) {
    this.properties = properties;
  }

  @EventListener
  public void onWebServer(WebServerInitializedEvent event) {
    httpPort = event.getWebServer().getPort();
  }

  @EventListener
  public void onGrpcServer(GrpcServerStartedEvent event) {
    grpcPort = event.getPort();
  }

  @EventListener
  public void onReady(ApplicationReadyEvent event) {
    System.out.println(
        PREFIX
            + "model "
            + properties.servedModelName()
            + ", "
            + properties.prefill().size()
            + " prefill and "
            + properties.decode().size()
            + " decode instances, listening on port "
            + httpPort
            + ", GenerateService on gRPC port "
            + grpcPort);
    System.out.flush();
  }
}
