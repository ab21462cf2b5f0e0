package io.disaggmoe.kvcache.config;

import io.disaggmoe.kvcache.core.KvBlockStore;
import io.disaggmoe.kvcache.grpc.KvCacheGrpcService;
import io.disaggmoe.proto.telemetry.StageTracing;
import io.disaggmoe.proto.wire.TensorSockets;
import io.grpc.ServerInterceptor;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.grpc.server.GlobalServerInterceptor;
import org.springframework.grpc.server.ServerBuilderCustomizer;

/** Wires the block store to its gRPC adapter. */
@Configuration(proxyBeanMethods = false)
@EnableConfigurationProperties(KvCacheServiceProperties.class)
public class KvCacheServiceConfiguration {
  @Bean
  KvBlockStore kvBlockStore(KvCacheServiceProperties p) throws IOException {
    long capacity = p.capacity().toBytes();
    return p.disk() == null
        ? KvBlockStore.inMemory(capacity, p.blockTokens())
        : KvBlockStore.withDisk(capacity, p.blockTokens(), p.disk());
  }

  /**
   * Blocks are megabytes; a window of several lets a transfer stream without stalls, and the
   * sockets move a block in few calls.
   */
  @Bean
  ServerBuilderCustomizer<NettyServerBuilder> tensorTransport() {
    return builder -> TensorSockets.tune(builder).flowControlWindow(16 << 20);
  }

  @Bean
  @GlobalServerInterceptor
  ServerInterceptor tracing() {
    return StageTracing.serverInterceptor();
  }

  @Bean
  KvCacheGrpcService kvCacheGrpcService(KvBlockStore store) {
    return new KvCacheGrpcService(store);
  }
}
