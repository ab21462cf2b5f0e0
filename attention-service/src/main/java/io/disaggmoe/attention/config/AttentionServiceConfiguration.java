package io.disaggmoe.attention.config;

import io.disaggmoe.attention.client.GrpcExpertExecutor;
import io.disaggmoe.attention.grpc.AttentionGrpcService;
import io.disaggmoe.model.LocalModel;
import io.disaggmoe.model.config.ModelConfigJson;
import io.disaggmoe.model.layer.AttentionMode;
import java.io.IOException;
import java.util.Locale;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/** Loads everything but the routed experts and connects to the pools that hold them. */
@Configuration(proxyBeanMethods = false)
@EnableConfigurationProperties(AttentionServiceProperties.class)
public class AttentionServiceConfiguration {
  @Bean(destroyMethod = "close")
  GrpcExpertExecutor expertExecutor(AttentionServiceProperties p) throws IOException {
    int experts = ModelConfigJson.read(p.model()).nRoutedExperts();
    return GrpcExpertExecutor.connect(p.experts(), experts, p.deadline());
  }

  @Bean(destroyMethod = "close")
  LocalModel attentionModel(AttentionServiceProperties p, GrpcExpertExecutor experts)
      throws IOException {
    AttentionMode mode = AttentionMode.valueOf(p.attn().toUpperCase(Locale.ROOT));
    LocalModel model = LocalModel.load(p.model(), mode, experts);
    model.setMicroBatchOverlap(p.overlap());
    return model;
  }

  @Bean
  AttentionGrpcService attentionGrpcService(LocalModel model, AttentionServiceProperties p) {
    return new AttentionGrpcService(model, p.role());
  }
}
