package io.disaggmoe.expert.config;

import io.disaggmoe.expert.core.ExpertPool;
import io.disaggmoe.expert.grpc.ExpertGrpcService;
import io.disaggmoe.proto.wire.TensorSockets;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.grpc.server.ServerBuilderCustomizer;

/** Wires the pool core to its gRPC adapter; Spring gRPC serves every BindableService bean. */
@Configuration(proxyBeanMethods = false)
@EnableConfigurationProperties(ExpertServiceProperties.class)
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
  ServerBuilderCustomizer<NettyServerBuilder> directExecutor() {
    return builder -> builder.directExecutor();
  }

  static final int FLOW_CONTROL_WINDOW = 32 << 20;

  @Bean
  ExpertGrpcService expertGrpcService(ExpertPool pool) {
    return new ExpertGrpcService(pool);
  }
}
