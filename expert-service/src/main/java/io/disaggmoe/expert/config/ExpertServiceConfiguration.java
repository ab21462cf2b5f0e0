package io.disaggmoe.expert.config;

import io.disaggmoe.expert.ExpertServiceApplication;
import io.disaggmoe.expert.core.ExpertPool;
import io.disaggmoe.expert.grpc.ExpertGrpcService;
import io.disaggmoe.proto.spring.InstanceDescription;
import io.disaggmoe.proto.spring.ReadyAnnouncer;
import io.disaggmoe.proto.spring.StageServerConfiguration;
import io.disaggmoe.proto.telemetry.StageMetrics;
import io.disaggmoe.proto.v1.ExpertLoad;
import io.disaggmoe.proto.v1.Instance;
import io.disaggmoe.proto.v1.Role;
import io.disaggmoe.proto.wire.TensorSockets;
import io.disaggmoe.proto.wire.TransportSecurity;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;
import org.springframework.grpc.server.ServerBuilderCustomizer;

/** Wires the pool core to its gRPC adapter; Spring gRPC serves every BindableService bean. */
@Configuration(proxyBeanMethods = false)
@EnableConfigurationProperties(ExpertServiceProperties.class)
@Import(StageServerConfiguration.class)
public class ExpertServiceConfiguration {
  @Bean(destroyMethod = "close")
  ExpertPool expertPool(ExpertServiceProperties properties) throws IOException {
    return ExpertPool.load(
        properties.model(),
        properties.pool(),
        properties.replicas(),
        properties.computeNice(),
        properties.maxQueued().toBytes());
  }

  /**
   * A [64, 7168] activation is 1.8 MB; with HTTP/2's default 64 KiB window it would wait for
   * several WINDOW_UPDATE round trips, so the window is sized for whole activations, and the
   * sockets for writing and reading one in a call each.
   */
  @Bean
  ServerBuilderCustomizer<NettyServerBuilder> tensorTransport() {
    return builder -> TensorSockets.tune(builder).flowControlWindow(FLOW_CONTROL_WINDOW);
  }

  /**
   * Dispatches run on the transport thread that read them. A dispatch never blocks on I/O, and a
   * hop to an executor thread and back costs more than the wire time of a decode step's dispatch.
   */
  @Bean
  InboundLimit inboundLimit(ExpertPool pool, ExpertServiceProperties p) {
    return new InboundLimit(
        (int) Math.min(Integer.MAX_VALUE, pool.maxDispatchBytes(p.maxDispatchTokens())));
  }

  /**
   * The largest message the pool reads: a dispatch of {@code max-dispatch-tokens} tokens of this
   * model. A larger one is refused with RESOURCE_EXHAUSTED before it is buffered.
   */
  public record InboundLimit(int bytes) {}

  @Bean
  ServerBuilderCustomizer<NettyServerBuilder> inboundMessageLimit(InboundLimit limit) {
    return builder -> builder.maxInboundMessageSize(limit.bytes());
  }

  @Bean
  ServerBuilderCustomizer<NettyServerBuilder> directExecutor() {
    return builder -> builder.directExecutor();
  }

  static final int FLOW_CONTROL_WINDOW = 32 << 20;

  /** Expert passes, resident bytes and tokens served per layer, as Prometheus reads them. */
  @Bean(destroyMethod = "close")
  StageMetrics stageMetrics(
      ExpertPool pool,
      @Value("${" + StageMetrics.PORT_PROPERTY + ":-1}") int port,
      @Value("${spring.grpc.server.address:0.0.0.0}") String host) {
    StageMetrics m = new StageMetrics("expert", host, port);
    MeterRegistry r = m.registry();
    FunctionCounter.builder("disaggmoe_expert_passes", pool, ExpertPool::expertPasses)
        .description("reads of one expert's weights, for every token waiting for it")
        .register(r);
    Gauge.builder("disaggmoe_expert_resident_bytes", pool, ExpertPool::residentBytes).register(r);
    for (int layer : pool.moeLayers()) {
      FunctionCounter.builder(
              "disaggmoe_expert_tokens",
              pool,
              p -> java.util.Arrays.stream(p.load().layer(layer)).sum())
          .description("token slots served by this pool's experts")
          .tag("layer", String.valueOf(layer))
          .register(r);
    }
    return m;
  }

  @Bean
  ReadyAnnouncer readyAnnouncer(ExpertPool pool, StageMetrics metrics, TransportSecurity security) {
    return new ReadyAnnouncer(
        ExpertServiceApplication.SERVICE,
        () -> pool.placement() + ", " + pool.residentBytes() + " expert bytes",
        metrics,
        security);
  }

  @Bean
  InstanceDescription instanceDescription(ExpertPool pool) {
    return new InstanceDescription() {
      @Override
      public Instance.Builder describe() {
        return Instance.newBuilder()
            .setRole(Role.ROLE_EXPERT_POOL)
            .setModelId(pool.modelId())
            .setCapacityBytes(pool.residentBytes())
            .setPlacement(ExpertGrpcService.placement(pool));
      }

      @Override
      public ExpertLoad expertLoad() {
        return ExpertGrpcService.load(pool);
      }
    };
  }

  @Bean
  ExpertGrpcService expertGrpcService(ExpertPool pool) {
    return new ExpertGrpcService(pool);
  }
}
