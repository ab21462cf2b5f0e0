package io.disaggmoe.expert.config;

import io.disaggmoe.expert.core.ExpertPool;
import io.disaggmoe.proto.telemetry.StageMetrics;
import org.springframework.context.event.EventListener;
import org.springframework.grpc.server.lifecycle.GrpcServerStartedEvent;
import org.springframework.stereotype.Component;

/**
 * Prints one line on stdout once the server listens, with the bound port (the port may be 0 in the
 * configuration): launchers such as {@code forward --expert-pools} wait for it.
 */
@Component
public class ReadyAnnouncer {
  public static final String PREFIX = "disaggmoe expert-service ready: ";

  private final ExpertPool pool;
  private final StageMetrics metrics;

  public ReadyAnnouncer(ExpertPool pool, StageMetrics metrics) {
    this.pool = pool;
    this.metrics = metrics;
  }

  @EventListener
  public void onStarted(GrpcServerStartedEvent event) {
    System.out.println(
        PREFIX
            + pool.placement()
            + ", "
            + pool.residentBytes()
            + " expert bytes, listening on port "
            + event.getPort()
            + metrics.readySuffix());
    System.out.flush();
  }
}
