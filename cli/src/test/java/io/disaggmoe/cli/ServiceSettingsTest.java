package io.disaggmoe.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.attention.AttentionServiceApplication;
import io.disaggmoe.expert.ExpertServiceApplication;
import io.disaggmoe.kvcache.KvCacheServiceApplication;
import io.disaggmoe.model.testing.GoldenCase;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.springframework.core.env.Environment;

/**
 * Services that share a class path (and here a JVM) each run with their own settings file: every
 * service jar once carried an {@code application.properties} and only the first on the class path
 * was read, so a pool silently took the attention service's 64 MB inbound limit for its 512 MB.
 */
class ServiceSettingsTest {
  @Test
  void eachServiceInOneJvmHasItsOwnLimits() throws Exception {
    String model = GoldenCase.named("v3-tiny").dir().toString();
    ServeKvCacheCommand kv = new ServeKvCacheCommand();
    new picocli.CommandLine(kv).parseArgs("--port", "0", "--host", "127.0.0.1");
    ServeExpertCommand pool = new ServeExpertCommand();
    new picocli.CommandLine(pool)
        .parseArgs("--model", model, "--pool", "0/1", "--port", "0", "--host", "127.0.0.1");
    try (SpringServices.Running k = SpringServices.start(kv.spec());
        SpringServices.Running p = SpringServices.start(pool.spec())) {
      ServeAttentionCommand attention = new ServeAttentionCommand();
      new picocli.CommandLine(attention)
          .parseArgs(
              "--model",
              model,
              "--role",
              "decode",
              "--kv-cache",
              "127.0.0.1:" + k.grpcPort(),
              "--experts",
              "127.0.0.1:" + p.grpcPort(),
              "--port",
              "0",
              "--host",
              "127.0.0.1");
      try (SpringServices.Running a = SpringServices.start(attention.spec())) {
        for (var service :
            List.of(
                new Object[] {p, ExpertServiceApplication.CONFIG_NAME, "512MB"},
                new Object[] {k, KvCacheServiceApplication.CONFIG_NAME, "64MB"},
                new Object[] {a, AttentionServiceApplication.CONFIG_NAME, "64MB"})) {
          Environment env = ((SpringServices.Running) service[0]).context().getEnvironment();
          assertThat(env.getProperty("spring.application.name"))
              .as("the settings file %s read", service[1])
              .isEqualTo(service[1]);
          assertThat(env.getProperty("spring.grpc.server.inbound.message.max-size"))
              .as("%s's inbound message limit", service[1])
              .isEqualTo(service[2]);
        }
        // The attention instance's health names each peer it can reach.
        ManagedChannel ch =
            NettyChannelBuilder.forAddress("127.0.0.1", a.grpcPort()).usePlaintext().build();
        try {
          var health = HealthGrpc.newBlockingStub(ch);
          for (String peer :
              List.of(
                  "disaggmoe.peer/kv-cache/127.0.0.1:" + k.grpcPort(),
                  "disaggmoe.peer/expert-pool/127.0.0.1:" + p.grpcPort())) {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            HealthCheckResponse.ServingStatus status = null;
            while (status != HealthCheckResponse.ServingStatus.SERVING
                && System.nanoTime() < deadline) {
              try {
                status =
                    health
                        .check(HealthCheckRequest.newBuilder().setService(peer).build())
                        .getStatus();
              } catch (StatusRuntimeException notYet) {
                Thread.sleep(100);
              }
            }
            assertThat(status)
                .as("health of %s", peer)
                .isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
          }
        } finally {
          ch.shutdownNow();
        }
      }
    }
  }
}
