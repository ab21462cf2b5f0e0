package io.disaggmoe.expert.config;

import io.disaggmoe.expert.core.ExpertPool;
import io.disaggmoe.expert.grpc.ExpertGrpcService;
import java.io.IOException;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/** Wires the pool core to its gRPC adapter; Spring gRPC serves every BindableService bean. */
@Configuration(proxyBeanMethods = false)
@EnableConfigurationProperties(ExpertServiceProperties.class)
public class ExpertServiceConfiguration {
  @Bean(destroyMethod = "close")
  ExpertPool expertPool(ExpertServiceProperties properties) throws IOException {
    return ExpertPool.load(properties.model(), properties.pool(), properties.replicas());
  }

  @Bean
  ExpertGrpcService expertGrpcService(ExpertPool pool) {
    return new ExpertGrpcService(pool);
  }
}
