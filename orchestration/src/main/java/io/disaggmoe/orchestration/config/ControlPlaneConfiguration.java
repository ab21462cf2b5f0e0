package io.disaggmoe.orchestration.config;

import io.disaggmoe.orchestration.ControlPlaneApplication;
import io.disaggmoe.orchestration.core.Registry;
import io.disaggmoe.orchestration.grpc.ControlPlaneGrpcService;
import io.disaggmoe.orchestration.rebalance.ExpertLoadLedger;
import io.disaggmoe.orchestration.rebalance.Rebalancer;
import io.disaggmoe.orchestration.scaling.ScalingAdvisor;
import io.disaggmoe.orchestration.scaling.ScalingMetrics;
import io.disaggmoe.proto.spring.ReadyAnnouncer;
import io.disaggmoe.proto.spring.StageServerConfiguration;
import io.disaggmoe.proto.telemetry.StageMetrics;
import io.disaggmoe.proto.wire.StageChannels;
import io.disaggmoe.proto.wire.TransportSecurity;
import io.micrometer.core.instrument.Gauge;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.ApplicationListener;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;
import org.springframework.grpc.server.lifecycle.GrpcServerShutdownEvent;

/** Wires the registry to its gRPC adapter, and removes lapsed leases as they lapse. */
@Configuration(proxyBeanMethods = false)
@EnableConfigurationProperties(ControlPlaneProperties.class)
@Import(StageServerConfiguration.class)
public class ControlPlaneConfiguration {
  @Bean
  Registry registry(ControlPlaneProperties p) {
    return new Registry(p.lease().toMillis(), System::currentTimeMillis);
  }

  /** Lapsed leases go within a quarter of a heartbeat, whether or not anyone calls. */
  @Bean(destroyMethod = "shutdownNow")
  ScheduledExecutorService leaseSweep(Registry registry, ControlPlaneProperties p) {
    ScheduledExecutorService every =
        Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().daemon().name("lease-sweep").factory());
    long period = Math.max(1, p.heartbeat().toMillis() / 4);
    every.scheduleWithFixedDelay(registry::expireNow, period, period, TimeUnit.MILLISECONDS);
    return every;
  }

  @Bean
  ExpertLoadLedger expertLoadLedger() {
    return new ExpertLoadLedger();
  }

  /**
   * Waits for attention instances to route by a new placement for two heartbeats and a lease at
   * most: each takes it up at its next pass and says so in its next heartbeat.
   */
  @Bean(destroyMethod = "close")
  Rebalancer rebalancer(
      Registry registry,
      ExpertLoadLedger ledger,
      StageChannels channels,
      ControlPlaneProperties p) {
    return new Rebalancer(
        registry,
        ledger,
        channels,
        p.rebalanceThreshold(),
        p.spareSlots(),
        p.heartbeat().multipliedBy(2).plus(p.lease()));
  }

  @Bean(destroyMethod = "shutdownNow")
  ScheduledExecutorService rebalanceTimer(Rebalancer rebalancer, ControlPlaneProperties p) {
    ScheduledExecutorService every =
        Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().daemon().name("rebalance-timer").factory());
    long period = p.rebalanceEvery().toMillis();
    if (period > 0) {
      every.scheduleWithFixedDelay(
          rebalancer::rebalanceIfUneven, period, period, TimeUnit.MILLISECONDS);
    }
    return every;
  }

  @Bean
  ScalingAdvisor scalingAdvisor(Registry registry, ControlPlaneProperties p) {
    return new ScalingAdvisor(registry, p.scalingTargets());
  }

  @Bean
  ControlPlaneGrpcService controlPlaneGrpcService(
      Registry registry,
      ControlPlaneProperties p,
      ExpertLoadLedger ledger,
      Rebalancer rebalancer,
      ScalingAdvisor scaling) {
    return new ControlPlaneGrpcService(
        registry, p.heartbeat().toMillis(), ledger, rebalancer, scaling);
  }

  /**
   * Spring gRPC announces the server's shutdown before it stops taking calls and waits for those
   * running: the watches end and the leases freeze then, not at the end of that wait.
   */
  @Bean
  ApplicationListener<GrpcServerShutdownEvent> stopWatchesOnShutdown(
      ControlPlaneGrpcService service) {
    return e -> service.stop();
  }

  @Bean(destroyMethod = "close")
  StageMetrics stageMetrics(
      Registry registry,
      ScalingAdvisor scaling,
      @Value("${" + StageMetrics.PORT_PROPERTY + ":-1}") int port,
      @Value("${spring.grpc.server.address:0.0.0.0}") String host) {
    StageMetrics m = new StageMetrics("control-plane", host, port);
    Gauge.builder(
            "disaggmoe_control_plane_instances", registry, r -> r.topology().getInstancesCount())
        .description("instances holding a lease")
        .register(m.registry());
    ScalingMetrics.register(scaling, m.registry());
    return m;
  }

  @Bean
  ReadyAnnouncer readyAnnouncer(
      Registry registry, StageMetrics metrics, TransportSecurity security) {
    return new ReadyAnnouncer(
        ControlPlaneApplication.SERVICE,
        () -> "leases of " + registry.leaseMillis() + " ms",
        metrics,
        security);
  }
}
