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
import io.disaggmoe.model.ModelIdentity;
import io.disaggmoe.model.config.ModelConfig;
import io.disaggmoe.model.config.ModelConfigJson;
import io.disaggmoe.model.text.TextTokenizer;
import io.disaggmoe.proto.spring.InstanceDescription;
import io.disaggmoe.proto.spring.StageChannelsConfiguration;
import io.disaggmoe.proto.spring.TopologyWatch;
import io.disaggmoe.proto.telemetry.StageTracing;
import io.disaggmoe.proto.v1.Instance;
import io.disaggmoe.proto.v1.Role;
import io.disaggmoe.proto.v1.Topology;
import io.disaggmoe.proto.wire.StageChannels;
import io.grpc.ServerInterceptor;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
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

  /**
   * The stages this gateway calls, closed with it: those configured, then, with a control plane,
   * those its topology lists.
   */
  public static final class Stages implements AutoCloseable {
    final ScheduledExecutorService scheduler;
    final StageChannels channels;
    volatile List<GrpcAttentionStage> prefill;
    volatile List<GrpcAttentionStage> decode;
    // Every instance known, routed to or left (kept a while for the requests still on it).
    private final Map<String, GrpcAttentionStage> known = new HashMap<>();
    final GrpcKvCacheStage kv;

    Stages(GatewayProperties p, StageChannels channels) {
      this.channels = channels;
      scheduler =
          Executors.newScheduledThreadPool(
              2, Thread.ofPlatform().name("gateway-timer-", 0).daemon().factory());
      prefill = p.prefill().stream().map(this::stage).toList();
      decode = p.decode().stream().map(this::stage).toList();
      kv = new GrpcKvCacheStage(p.kvCache(), channels, scheduler);
    }

    private synchronized GrpcAttentionStage stage(String address) {
      return known.computeIfAbsent(address, a -> new GrpcAttentionStage(a, channels, scheduler));
    }

    /**
     * Routes to the prefill and decode instances of {@code modelId} that {@code t} lists, when it
     * lists any; an instance that left is closed once {@code linger} has passed and it has not come
     * back, so that its running streams end or fail over first.
     */
    void follow(Topology t, String modelId, StageRouter router, Duration linger) {
      List<String> prefills = addresses(t, Role.ROLE_PREFILL, modelId);
      List<String> decodes = addresses(t, Role.ROLE_DECODE, modelId);
      if (prefills.isEmpty() && decodes.isEmpty()) {
        return;
      }
      List<String> left;
      synchronized (this) {
        prefill = prefills.stream().map(this::stage).toList();
        decode = decodes.stream().map(this::stage).toList();
        router.route(List.copyOf(prefill), List.copyOf(decode));
        left =
            known.keySet().stream()
                .filter(a -> !prefills.contains(a) && !decodes.contains(a))
                .toList();
      }
      for (String gone : left) {
        LOG.log(System.Logger.Level.INFO, "attention instance {0} left the topology", gone);
        scheduler.schedule(() -> closeIfGone(gone), linger.toMillis(), TimeUnit.MILLISECONDS);
      }
    }

    private synchronized void closeIfGone(String address) {
      GrpcAttentionStage s = known.get(address);
      if (s != null && !prefill.contains(s) && !decode.contains(s)) {
        known.remove(address).close();
      }
    }

    private static List<String> addresses(Topology t, Role role, String modelId) {
      return t.getInstancesList().stream()
          .filter(i -> i.getRole() == role && i.getModelId().equals(modelId))
          .map(Instance::getAddress)
          .toList();
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
    public synchronized void close() {
      known.values().forEach(GrpcAttentionStage::close);
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
    int context = c.maxPositionEmbeddings();
    if (p.maxModelLen() != null) {
      // As vLLM's --max-model-len: a cap on prompt plus output, never past what the model holds.
      if (p.maxModelLen() > context) {
        throw new IllegalArgumentException(
            "--max-model-len "
                + p.maxModelLen()
                + " is more than the model's context of "
                + context
                + " tokens (max_position_embeddings in "
                + p.model().resolve("config.json")
                + ")");
      }
      context = p.maxModelLen();
    }
    ServedModel served =
        new ServedModel(
            p.servedModelName(),
            context,
            Math.min(c.vocabSize(), tokenizer.tokenCount()),
            tokenizer);
    served
        .prepareChat()
        .ifPresent(
            why ->
                LOG.log(
                    System.Logger.Level.WARNING,
                    "chat completions will be refused with HTTP 400: {0}",
                    why));
    return served;
  }

  @Bean
  StageRouter stageRouter(Stages s) {
    return new StageRouter(List.copyOf(s.prefill), List.copyOf(s.decode));
  }

  /** With a control plane, routes to the attention instances its topology lists. */
  @Bean(destroyMethod = "close")
  @ConditionalOnProperty(StageChannelsConfiguration.CONTROL_PLANE)
  TopologyWatch topologyWatch(
      Stages s,
      StageRouter router,
      GatewayProperties p,
      StageChannels channels,
      @Value("${" + StageChannelsConfiguration.CONTROL_PLANE + "}") String plane) {
    if (plane.isBlank()) {
      return null;
    }
    String modelId = ModelIdentity.of(p.model());
    return new TopologyWatch(
        plane, channels, t -> s.follow(t, modelId, router, p.requestTimeout()));
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
    GatewayMetrics metrics = new GatewayMetrics(r, m.id(), m.maxModelLen(), s::kvUsage);
    metrics.stages("prefill", () -> s.prefill);
    metrics.stages("decode", () -> s.decode);
    return metrics;
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
      ServedModel model,
      GenerationPipeline pipeline,
      Admission admission,
      ApiKeys keys,
      GatewayMetrics metrics) {
    return new GenerateGrpcService(model, pipeline, admission, keys, metrics);
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
