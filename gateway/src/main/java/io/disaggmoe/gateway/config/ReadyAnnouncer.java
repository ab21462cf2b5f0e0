package io.disaggmoe.gateway.config;

import org.springframework.boot.web.server.context.WebServerInitializedEvent;
import org.springframework.context.event.EventListener;
import org.springframework.stereotype.Component;

/** Prints one line on stdout once the HTTP server listens, with the bound port, for launchers. */
@Component
public class ReadyAnnouncer {
  public static final String PREFIX = "disaggmoe gateway ready: ";

  private final GatewayProperties properties;

  public ReadyAnnouncer(GatewayProperties properties) {
    this.properties = properties;
  }

  @EventListener
  public void onStarted(WebServerInitializedEvent event) {
    System.out.println(
        PREFIX
            + "model "
            + properties.servedModelName()
            + ", "
            + properties.prefill().size()
            + " prefill and "
            + properties.decode().size()
            + " decode instances, listening on port "
            + event.getWebServer().getPort());
    System.out.flush();
  }
}
