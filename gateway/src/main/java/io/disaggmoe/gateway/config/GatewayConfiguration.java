package io.disaggmoe.gateway.config;

import io.disaggmoe.gateway.client.GrpcAttentionStage;
import io.disaggmoe.gateway.client.GrpcKvCacheStage;
import io.disaggmoe.gateway.core.Admission;
import io.disaggmoe.gateway.core.ApiKeys;
import io.disaggmoe.gateway.core.AttentionStage;
import io.disaggmoe.gateway.core.GatewayMetrics;
import io.disaggmoe.gateway.core.GenerationPipeline;
import io.disaggmoe.gateway.core.ServedModel;
import io.disaggmoe.gateway.core.StageRouter;
import io.disaggmoe.gateway.grpc.GenerateGrpcService;
import io.disaggmoe.model.config.ModelConfig;
import io.disaggmoe.model.config.ModelConfigJson;
import io.disaggmoe.model.text.TextTokenizer;
import io.disaggmoe.proto.spring.InstanceDescription;
import io.disaggmoe.proto.spring.StageChannelsConfiguration;
import io.disaggmoe.proto.telemetry.StageTracing;
import io.disaggmoe.proto.v1.Instance;
import io.disaggmoe.proto.v1.Role;
import io.disaggmoe.proto.wire.StageChannels;
import io.grpc.ServerInterceptor;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;
import org.springframework.grpc.server.GlobalServerInterceptor;

/** Wires the gateway: the served model, its stages, routing, admission, keys and metrics. */
@Configuration(proxyBeanMethods = false)
@EnableConfigurationProperties(GatewayProperties.class)
@Import(StageChannelsConfiguration.class)
public class GatewayConfiguration {
  private static final System.Logger LOG = System.getLogger(GatewayConfiguration.class.getName());

  /** The stages this gateway calls, closed with it. */
  public static final class Stages implements AutoCloseable {
    final ScheduledExecutorService scheduler;
    final List<GrpcAttentionStage> prefill = new ArrayList<>();
    final List<GrpcAttentionStage> decode = new ArrayList<>();
    final GrpcKvCacheStage kv;

    Stages(GatewayProperties p, StageChannels channels) {
      scheduler =
          Executors.newScheduledThreadPool(
              2, Thread.ofPlatform().name("gateway-timer-", 0).daemon().factory());
      p.prefill().forEach(a -> prefill.add(new GrpcAttentionStage(a, channels, scheduler)));
      p.decode().forEach(a -> decode.add(new GrpcAttentionStage(a, channels, scheduler)));
      kv = new GrpcKvCacheStage(p.kvCache(), channels, scheduler);
    }

    double kvUsage() {
      long capacity = 0;
      long free = 0;
      for (AttentionStage s : decode) {
        capacity += s.status().getKvCapacityBytes();
        free += s.status().getFreeKvBytes();
      }
      return capacity == 0 ? 0 : (capacity - free) / (double) capacity;
    }

    @Override
    public void close() {
      prefill.forEach(GrpcAttentionStage::close);
      decode.forEach(GrpcAttentionStage::close);
      kv.close();
      scheduler.shutdownNow();
    }
  }

  @Bean(destroyMethod = "close")
  Stages stages(GatewayProperties p, StageChannels channels) {
    return new Stages(p, channels);
  }

  @Bean(destroyMethod = "close")
  TextTokenizer tokenizer(GatewayProperties p) throws IOException {
    return TextTokenizer.load(p.model());
  }

  /** The gateway registers with its GenerateService's address. */
  @Bean
  InstanceDescription instanceDescription() {
    return () -> Instance.newBuilder().setRole(Role.ROLE_GATEWAY);
  }

  @Bean
  ServedModel servedModel(GatewayProperties p, TextTokenizer tokenizer) throws IOException {
    ModelConfig c = ModelConfigJson.read(p.model());
    return new ServedModel(
        p.servedModelName(),
        c.maxPositionEmbeddings(),
        Math.min(c.vocabSize(), tokenizer.tokenCount()),
        tokenizer);
  }

  @Bean
  StageRouter stageRouter(Stages s) {
    return new StageRouter(List.copyOf(s.prefill), List.copyOf(s.decode));
  }

  @Bean
  GrpcKvCacheStage kvCacheStage(Stages s) {
    return s.kv;
  }

  @Bean(destroyMethod = "close")
  PrometheusMeterRegistry prometheusRegistry() {
    return new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  }

  @Bean
  GatewayMetrics gatewayMetrics(PrometheusMeterRegistry r, ServedModel m, Stages s) {
    return new GatewayMetrics(r, m.id(), s::kvUsage);
  }

  @Bean
  GenerationPipeline generationPipeline(
      StageRouter router, Stages s, GatewayMetrics metrics, GatewayProperties p) {
    return new GenerationPipeline(
        router,
        s.kv,
        metrics,
        s.scheduler,
        p.prefillTimeout(),
        p.requestTimeout(),
        p.maxAttempts());
  }

  @Bean
  Admission admission(GatewayProperties p, GatewayMetrics metrics) {
    return new Admission(p.maxRunning(), p.maxWaiting(), metrics);
  }

  @Bean
  GenerateGrpcService generateGrpcService(
      ServedModel model, GenerationPipeline pipeline, Admission admission, ApiKeys keys) {
    return new GenerateGrpcService(model, pipeline, admission, keys);
  }

  @Bean
  @GlobalServerInterceptor
  ServerInterceptor tracing() {
    return StageTracing.serverInterceptor();
  }

  @Bean
  @GlobalServerInterceptor
  ServerInterceptor authorizationInterceptor() {
    return GenerateGrpcService.authorizationInterceptor();
  }

  @Bean
  ApiKeys apiKeys(GatewayProperties p) throws IOException {
    if (p.apiKeys() == null) {
      LOG.log(
          System.Logger.Level.WARNING,
          "no API keys file (disaggmoe.gateway.api-keys): the gateway is open to every client");
      return ApiKeys.open();
    }
    return ApiKeys.load(p.apiKeys());
  }
}
