package io.disaggmoe.kvcache.config;

import io.disaggmoe.kvcache.bulk.KvBulkServer;
import io.disaggmoe.kvcache.core.KvBlockStore;
import io.disaggmoe.kvcache.core.KvCacheStats;
import io.disaggmoe.proto.telemetry.StageMetrics;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.context.event.EventListener;
import org.springframework.grpc.server.lifecycle.GrpcServerStartedEvent;
import org.springframework.stereotype.Component;

/** Prints one line on stdout once the server listens, with the bound port, for launchers. */
@Component
public class ReadyAnnouncer {
  public static final String PREFIX = "disaggmoe kv-cache-service ready: ";

  private final KvBlockStore store;
  private final StageMetrics metrics;
  private final ObjectProvider<KvBulkServer> bulk;

  public ReadyAnnouncer(
      KvBlockStore store, StageMetrics metrics, ObjectProvider<KvBulkServer> bulk) {
    this.store = store;
    this.metrics = metrics;
    this.bulk = bulk;
  }

  @EventListener
  public void onStarted(GrpcServerStartedEvent event) {
    KvCacheStats s = store.stats();
    System.out.println(
        PREFIX
            + s.capacityBytes()
            + " bytes budget, "
            + s.blocks()
            + " blocks stored, "
            + store.blockTokens()
            + " tokens per block, listening on port "
            + event.getPort()
            + bulkSuffix()
            + metrics.readySuffix());
    System.out.flush();
  }

  private String bulkSuffix() {
    KvBulkServer b = bulk.getIfAvailable();
    return b == null ? ", no bulk channel" : ", bulk channel on port " + b.port();
  }
}
