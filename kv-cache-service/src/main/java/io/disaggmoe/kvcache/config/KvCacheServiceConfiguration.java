package io.disaggmoe.kvcache.config;

import io.disaggmoe.kvcache.KvCacheServiceApplication;
import io.disaggmoe.kvcache.bulk.KvBulkServer;
import io.disaggmoe.kvcache.core.KvBlockStore;
import io.disaggmoe.kvcache.core.KvCacheStats;
import io.disaggmoe.kvcache.grpc.KvCacheGrpcService;
import io.disaggmoe.proto.spring.InstanceDescription;
import io.disaggmoe.proto.spring.ReadyAnnouncer;
import io.disaggmoe.proto.spring.StageServerConfiguration;
import io.disaggmoe.proto.telemetry.StageMetrics;
import io.disaggmoe.proto.telemetry.StageTracing;
import io.disaggmoe.proto.v1.Instance;
import io.disaggmoe.proto.v1.Role;
import io.disaggmoe.proto.wire.TensorSockets;
import io.disaggmoe.proto.wire.TransportSecurity;
import io.grpc.ServerInterceptor;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;
import org.springframework.grpc.server.GlobalServerInterceptor;
import org.springframework.grpc.server.ServerBuilderCustomizer;

/** Wires the block store to its gRPC adapter. */
@Configuration(proxyBeanMethods = false)
@EnableConfigurationProperties(KvCacheServiceProperties.class)
@Import(StageServerConfiguration.class)
public class KvCacheServiceConfiguration {
  @Bean(destroyMethod = "close")
  KvBlockStore kvBlockStore(KvCacheServiceProperties p) throws IOException {
    long capacity = p.capacity().toBytes();
    return p.disk() == null
        ? KvBlockStore.inMemory(capacity, p.blockTokens())
        : KvBlockStore.withDisk(capacity, p.diskCapacity().toBytes(), p.blockTokens(), p.disk());
  }

  /**
   * Blocks are megabytes; a window of several lets a transfer stream without stalls, and the
   * sockets move a block in few calls.
   */
  @Bean
  ServerBuilderCustomizer<NettyServerBuilder> tensorTransport() {
    return builder -> TensorSockets.tune(builder).flowControlWindow(16 << 20);
  }

  /** The store's budget, use and hit counters, as Prometheus reads them. */
  @Bean(destroyMethod = "close")
  StageMetrics stageMetrics(
      KvBlockStore store,
      ObjectProvider<KvBulkServer> bulk,
      @Value("${" + StageMetrics.PORT_PROPERTY + ":-1}") int port,
      @Value("${spring.grpc.server.address:0.0.0.0}") String host) {
    StageMetrics m = new StageMetrics("kv-cache", host, port);
    MeterRegistry r = m.registry();
    Gauge.builder("disaggmoe_kv_capacity_bytes", store, s -> s.stats().capacityBytes()).register(r);
    Gauge.builder("disaggmoe_kv_used_bytes", store, s -> s.stats().usedBytes()).register(r);
    Gauge.builder("disaggmoe_kv_pinned_bytes", store, s -> s.stats().pinnedBytes()).register(r);
    Gauge.builder("disaggmoe_kv_blocks", store, s -> s.stats().blocks()).register(r);
    Gauge.builder("disaggmoe_kv_disk_bytes", store, s -> s.stats().diskBytes()).register(r);
    Gauge.builder("disaggmoe_kv_disk_capacity_bytes", store, s -> s.stats().diskCapacityBytes())
        .register(r);
    FunctionCounter.builder("disaggmoe_kv_spills", store, s -> s.stats().spills()).register(r);
    FunctionCounter.builder("disaggmoe_kv_promotions", store, s -> s.stats().promotions())
        .register(r);
    FunctionCounter.builder("disaggmoe_kv_hits", store, s -> s.stats().hits()).register(r);
    FunctionCounter.builder("disaggmoe_kv_misses", store, s -> s.stats().misses()).register(r);
    FunctionCounter.builder("disaggmoe_kv_evictions", store, s -> s.stats().evictions())
        .register(r);
    FunctionCounter.builder("disaggmoe_kv_corrupt_blocks", store, s -> s.stats().corruptBlocks())
        .register(r);
    if (bulk.getIfAvailable() != null) {
      KvBulkServer b = bulk.getIfAvailable();
      FunctionCounter.builder("disaggmoe_kv_bulk_received_bytes", b, KvBulkServer::receivedBytes)
          .register(r);
      FunctionCounter.builder("disaggmoe_kv_bulk_sent_bytes", b, KvBulkServer::sentBytes)
          .register(r);
    }
    return m;
  }

  @Bean
  @GlobalServerInterceptor
  ServerInterceptor tracing() {
    return StageTracing.serverInterceptor();
  }

  /**
   * The bulk block channel on the gRPC server's address; none (a null bean) when its port is -1, or
   * when stages speak mutual TLS: the channel is plain TCP, so with TLS on, blocks go over the
   * authenticated gRPC channel instead (clients fall back when {@code GetTransport} names no port).
   */
  @Bean(destroyMethod = "close")
  KvBulkServer kvBulkServer(
      KvBlockStore store,
      KvCacheServiceProperties p,
      TransportSecurity security,
      @Value("${spring.grpc.server.address:0.0.0.0}") String host)
      throws IOException {
    return p.bulkPort() < 0 || security.enabled()
        ? null
        : KvBulkServer.start(store, host, p.bulkPort());
  }

  @Bean
  InstanceDescription instanceDescription(KvBlockStore store) {
    return () ->
        Instance.newBuilder()
            .setRole(Role.ROLE_KV_CACHE)
            .setCapacityBytes(store.stats().capacityBytes());
  }

  @Bean
  ReadyAnnouncer readyAnnouncer(
      KvBlockStore store,
      ObjectProvider<KvBulkServer> bulk,
      StageMetrics metrics,
      TransportSecurity security) {
    return new ReadyAnnouncer(
        KvCacheServiceApplication.SERVICE,
        () -> {
          KvCacheStats s = store.stats();
          KvBulkServer b = bulk.getIfAvailable();
          return s.capacityBytes()
              + " bytes budget, "
              + s.blocks()
              + " blocks stored, "
              + store.blockTokens()
              + " tokens per block"
              + (b == null ? ", no bulk channel" : ", bulk channel on port " + b.port());
        },
        metrics,
        security);
  }

  @Bean
  KvCacheGrpcService kvCacheGrpcService(KvBlockStore store, ObjectProvider<KvBulkServer> bulk) {
    KvBulkServer b = bulk.getIfAvailable();
    return new KvCacheGrpcService(store, b == null ? 0 : b.port());
  }
}
