package io.disaggmoe.attention.config;

import io.disaggmoe.attention.AttentionServiceApplication;
import io.disaggmoe.attention.client.GrpcExpertExecutor;
import io.disaggmoe.attention.client.GrpcKvCacheClient;
import io.disaggmoe.attention.client.KvDtype;
import io.disaggmoe.attention.client.Peers;
import io.disaggmoe.attention.core.CompletionFactory;
import io.disaggmoe.attention.core.DecodeEngine;
import io.disaggmoe.attention.core.PrefillEngine;
import io.disaggmoe.attention.grpc.AttentionGrpcService;
import io.disaggmoe.model.LocalModel;
import io.disaggmoe.model.ModelIdentity;
import io.disaggmoe.model.ModelWarmUp;
import io.disaggmoe.model.config.ModelConfig;
import io.disaggmoe.model.config.ModelConfigJson;
import io.disaggmoe.model.layer.AttentionMode;
import io.disaggmoe.model.text.TextTokenizer;
import io.disaggmoe.proto.spring.InstanceDescription;
import io.disaggmoe.proto.spring.ReadyAnnouncer;
import io.disaggmoe.proto.spring.StageChannelsConfiguration;
import io.disaggmoe.proto.spring.StageServerConfiguration;
import io.disaggmoe.proto.spring.TopologyWatch;
import io.disaggmoe.proto.telemetry.StageMetrics;
import io.disaggmoe.proto.telemetry.StageTracing;
import io.disaggmoe.proto.v1.HeartbeatRequest;
import io.disaggmoe.proto.v1.Placement;
import io.disaggmoe.proto.v1.Role;
import io.disaggmoe.proto.wire.StageChannels;
import io.disaggmoe.proto.wire.TransportSecurity;
import io.grpc.ServerInterceptor;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.protobuf.services.HealthStatusManager;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.nio.file.Files;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;
import org.springframework.grpc.server.GlobalServerInterceptor;

/**
 * Loads everything but the routed experts (when pools are given), connects to the pools and to
 * kv-cache-service, and runs the engine of the instance's role.
 */
@Configuration(proxyBeanMethods = false)
@EnableConfigurationProperties(AttentionServiceProperties.class)
@Import(StageServerConfiguration.class)
public class AttentionServiceConfiguration {
  private static final Logger log = LoggerFactory.getLogger(AttentionServiceConfiguration.class);

  /** The instance itself: its model, its clients and its role's engine, closed together. */
  static final class Instance implements AutoCloseable {
    final LocalModel model;
    // What the warm-up ran before the instance served; null without one.
    final ModelWarmUp.Result warmedUp;
    final GrpcExpertExecutor experts;
    final GrpcKvCacheClient kv;
    final PrefillEngine prefill;
    final DecodeEngine decode;

    Instance(AttentionServiceProperties p, StageChannels channels) throws IOException {
      ModelConfig config = ModelConfigJson.read(p.model());
      AttentionMode mode = AttentionMode.valueOf(p.attn().toUpperCase(Locale.ROOT));
      GrpcExpertExecutor remote = null;
      GrpcKvCacheClient client = null;
      LocalModel m = null;
      ModelWarmUp.Result warm = null;
      try {
        if (!p.experts().isEmpty()) {
          remote =
              GrpcExpertExecutor.connect(
                  p.experts(), config.nRoutedExperts(), p.deadline(), channels);
          remote.requireModel(ModelIdentity.of(p.model()));
          m = LocalModel.load(p.model(), mode, remote);
        } else {
          m = LocalModel.load(p.model(), mode);
        }
        // Overlap hides the trip to remote pools; with experts in process it only reads them twice.
        m.setMicroBatchOverlap(p.overlap() && remote != null);
        warm = warmUp(m, p);
        if (p.kvCache() == null) {
          throw new IllegalArgumentException(
              "disaggmoe.attention.kv-cache (the kv-cache-service address) is required");
        }
        client =
            GrpcKvCacheClient.connect(
                channels,
                p.kvCache(),
                ModelIdentity.of(p.model()),
                config.numHiddenLayers(),
                config.latentDim(),
                KvDtype.parse(p.kvDtype()),
                p.deadline());
        TextTokenizer tokenizer =
            Files.exists(p.model().resolve(TextTokenizer.FILE_NAME))
                ? TextTokenizer.load(p.model())
                : null;
        CompletionFactory completions = new CompletionFactory(tokenizer, config);
        this.prefill =
            p.role().equals("prefill")
                ? new PrefillEngine(
                    m,
                    client,
                    completions,
                    p.prefillTokenBudget(),
                    p.prefillMaxQueuedTokens(),
                    p.pinTtl())
                : null;
        this.decode =
            p.role().equals("decode")
                ? new DecodeEngine(m, client, completions, p.kvBudget().toBytes(), p.maxBatch())
                : null;
      } catch (IOException | RuntimeException e) {
        if (client != null) {
          client.close();
        }
        if (m != null) {
          m.close();
        }
        if (remote != null) {
          remote.close();
        }
        throw e;
      }
      this.model = m;
      this.warmedUp = warm;
      this.experts = remote;
      this.kv = client;
    }

    /**
     * Runs {@code p.warmup()} of synthetic requests through the model before the instance serves; a
     * warm-up that fails is logged and the instance serves anyway, colder.
     */
    private static ModelWarmUp.Result warmUp(LocalModel m, AttentionServiceProperties p) {
      if (p.warmup().isZero()) {
        return null;
      }
      try {
        return ModelWarmUp.run(m, p.warmup(), p.maxBatch());
      } catch (RuntimeException e) {
        log.warn("warm-up stopped, serving without it: {}", e.toString());
        return null;
      }
    }

    @Override
    public void close() {
      if (prefill != null) {
        prefill.close();
      }
      if (decode != null) {
        decode.close();
      }
      kv.close();
      model.close();
      if (experts != null) {
        experts.close();
      }
    }
  }

  @Bean(destroyMethod = "close")
  Instance attentionInstance(AttentionServiceProperties p, StageChannels channels)
      throws IOException {
    return new Instance(p, channels);
  }

  /** The role's queue and batch, as Prometheus reads them. */
  @Bean(destroyMethod = "close")
  StageMetrics stageMetrics(
      Instance i,
      AttentionServiceProperties p,
      @Value("${" + StageMetrics.PORT_PROPERTY + ":-1}") int port,
      @Value("${spring.grpc.server.address:0.0.0.0}") String host) {
    StageMetrics m = new StageMetrics(p.role(), host, port);
    MeterRegistry r = m.registry();
    if (i.prefill != null) {
      Gauge.builder("disaggmoe_prefill_queued_tokens", i.prefill, PrefillEngine::queuedTokens)
          .register(r);
    }
    if (i.decode != null) {
      DecodeEngine d = i.decode;
      Gauge.builder("disaggmoe_decode_running_requests", d, DecodeEngine::runningRequests)
          .register(r);
      Gauge.builder("disaggmoe_decode_kv_capacity_bytes", d, DecodeEngine::kvCapacityBytes)
          .register(r);
      Gauge.builder("disaggmoe_decode_kv_free_bytes", d, DecodeEngine::freeKvBytes).register(r);
      Gauge.builder("disaggmoe_decode_kv_held_bytes", d, DecodeEngine::kvHeldBytes)
          .description("latent-cache pages in memory, in use or kept for reuse")
          .register(r);
      Gauge.builder("disaggmoe_decode_kv_calls_in_flight", d, DecodeEngine::unsettledWork)
          .description(
              "block fetches (until their request has joined), write-backs and releases sent off"
                  + " the step thread, unsettled")
          .register(r);
      FunctionCounter.builder("disaggmoe_decode_fetched_tokens", d, DecodeEngine::fetchedTokens)
          .description("cache positions loaded from kv-cache-service when requests joined")
          .register(r);
      FunctionCounter.builder(
              "disaggmoe_decode_recomputed_tokens", d, DecodeEngine::recomputedTokens)
          .description("cache positions computed again because no stored block held them")
          .register(r);
    }
    return m;
  }

  @Bean
  @GlobalServerInterceptor
  ServerInterceptor tracing() {
    return StageTracing.serverInterceptor();
  }

  @Bean
  AttentionGrpcService attentionGrpcService(
      Instance i,
      AttentionServiceProperties p,
      Peers peers,
      ObjectProvider<HealthStatusManager> health) {
    if (i.prefill != null) {
      // A loop that cannot go on takes the instance out of rotation instead of hanging callers.
      i.prefill.onStop(
          t -> {
            log.error("the prefill engine stopped; this instance is NOT_SERVING", t);
            health.ifAvailable(HealthStatusManager::enterTerminalState);
          });
    }
    return new AttentionGrpcService(
        i.model, p.role(), i.prefill, i.decode, p.debugForward(), peers);
  }

  @Bean
  ReadyAnnouncer readyAnnouncer(
      AttentionServiceProperties p, Instance i, StageMetrics metrics, TransportSecurity security) {
    return new ReadyAnnouncer(
        AttentionServiceApplication.SERVICE,
        () ->
            "role "
                + p.role()
                + ", "
                + p.experts().size()
                + " expert pools"
                + (i.warmedUp == null
                    ? ""
                    : String.format(
                        Locale.ROOT,
                        ", warmed up in %.1f s (%d prompts, %d decode steps)",
                        i.warmedUp.took().toMillis() / 1000.0,
                        i.warmedUp.prompts(),
                        i.warmedUp.steps())),
        metrics,
        security);
  }

  @Bean
  InstanceDescription instanceDescription(Instance i, AttentionServiceProperties p) {
    return new InstanceDescription() {
      @Override
      public io.disaggmoe.proto.v1.Instance.Builder describe() {
        return io.disaggmoe.proto.v1.Instance.newBuilder()
            .setRole(p.role().equals("prefill") ? Role.ROLE_PREFILL : Role.ROLE_DECODE)
            .setModelId(ModelIdentity.of(p.model()))
            .setCapacityBytes(i.decode == null ? 0 : i.decode.kvCapacityBytes());
      }

      @Override
      public void report(HeartbeatRequest.Builder b) {
        if (i.experts != null) {
          b.setTopologyVersion(i.experts.routedVersion());
        }
        if (i.prefill != null) {
          b.setQueuedTokens(i.prefill.queuedTokens())
              .setQueuedRequests(i.prefill.queuedRequests())
              .setLatencyP90Ms(i.prefill.timeToFirstToken().p90Millis());
        }
        if (i.decode != null) {
          b.setRunningRequests(i.decode.runningRequests())
              .setQueuedRequests(i.decode.waitingRequests())
              .setKvUsedFraction(i.decode.kvUsedFraction())
              .setLatencyP90Ms(i.decode.timePerToken().p90Millis());
        }
      }
    };
  }

  /**
   * With a control plane and remote experts, routes by the plane's topology: the pools it lists for
   * this model, with the placements it gives them.
   */
  @Bean(destroyMethod = "close")
  @ConditionalOnProperty(StageChannelsConfiguration.CONTROL_PLANE)
  TopologyWatch topologyWatch(
      Instance i,
      AttentionServiceProperties p,
      StageChannels channels,
      @Value("${" + StageChannelsConfiguration.CONTROL_PLANE + "}") String plane) {
    if (i.experts == null || plane.isBlank()) {
      return null;
    }
    String modelId = ModelIdentity.of(p.model());
    i.experts.setFailoverWait(p.failoverWait());
    return new TopologyWatch(
        plane,
        channels,
        t -> {
          Map<String, Placement> pools = new LinkedHashMap<>();
          for (var instance : t.getInstancesList()) {
            if (instance.getRole() == Role.ROLE_EXPERT_POOL
                && instance.getModelId().equals(modelId)) {
              pools.put(instance.getAddress(), instance.getPlacement());
            }
          }
          if (!pools.isEmpty()) {
            i.experts.route(pools, t.getVersion());
          }
        });
  }

  @Bean
  Peers peers(Instance i) {
    return new Peers(i.experts, i.kv);
  }

  /**
   * Each peer's reachability as a gRPC health service of its own ({@link Peers#healthName}),
   * refreshed every second.
   */
  @Bean(destroyMethod = "shutdownNow")
  ScheduledExecutorService peerHealth(Peers peers, ObjectProvider<HealthStatusManager> health) {
    ScheduledExecutorService every =
        Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().daemon().name("peer-health").factory());
    health.ifAvailable(
        h ->
            every.scheduleWithFixedDelay(
                () ->
                    peers
                        .now()
                        .forEach(
                            s ->
                                h.setStatus(
                                    Peers.healthName(s),
                                    s.getReachable()
                                        ? HealthCheckResponse.ServingStatus.SERVING
                                        : HealthCheckResponse.ServingStatus.NOT_SERVING)),
                0,
                1,
                TimeUnit.SECONDS));
    return every;
  }
}
