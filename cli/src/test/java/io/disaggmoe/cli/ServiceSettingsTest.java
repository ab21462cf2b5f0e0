package io.disaggmoe.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.disaggmoe.attention.AttentionServiceApplication;
import io.disaggmoe.expert.ExpertServiceApplication;
import io.disaggmoe.expert.config.ExpertServiceConfiguration;
import io.disaggmoe.expert.core.ExpertPool;
import io.disaggmoe.kvcache.KvCacheServiceApplication;
import io.disaggmoe.model.testing.GoldenCase;
import io.disaggmoe.proto.Tensors;
import io.disaggmoe.proto.v1.DispatchRequest;
import io.disaggmoe.proto.v1.ExpertServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
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
              "127.0.0.1",
              "--warmup",
              "1s");
      try (SpringServices.Running a = SpringServices.start(attention.spec())) {
        // It warmed up through the pool before serving, and serves as below.
        assertThat(a.context().getEnvironment().getProperty("disaggmoe.attention.warmup"))
            .isEqualTo("PT1S");
        assertThat(p.context().getEnvironment().getProperty("spring.application.name"))
            .isEqualTo(ExpertServiceApplication.CONFIG_NAME);
        assertPoolReadsDispatchesUpToItsLimitOnly(p);
        for (var service :
            List.of(
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

  /**
   * The pool's inbound limit is a dispatch of {@code --max-dispatch-tokens} (16384) tokens of its
   * model: one of 16384 tokens is read (and answered), one of 20000 is refused unread.
   */
  private static void assertPoolReadsDispatchesUpToItsLimitOnly(SpringServices.Running p) {
    int limit = p.context().getBean(ExpertServiceConfiguration.InboundLimit.class).bytes();
    ExpertPool pool = p.context().getBean(ExpertPool.class);
    assertThat((long) limit).isEqualTo(pool.maxDispatchBytes(16384));
    ManagedChannel ch =
        NettyChannelBuilder.forAddress("127.0.0.1", p.grpcPort())
            .usePlaintext()
            .maxInboundMessageSize(Integer.MAX_VALUE)
            .build();
    try {
      var stub = ExpertServiceGrpc.newBlockingStub(ch).withDeadlineAfter(2, TimeUnit.MINUTES);
      DispatchRequest fits = dispatch(pool, 16384);
      assertThat(fits.getSerializedSize()).isLessThanOrEqualTo(limit);
      assertThat(stub.dispatch(fits).hasPartial()).isTrue();
      DispatchRequest over = dispatch(pool, 20000);
      assertThatThrownBy(() -> stub.dispatch(over))
          .isInstanceOfSatisfying(
              StatusRuntimeException.class,
              e -> {
                assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
                assertThat(e.getStatus().getDescription()).contains(String.valueOf(limit));
              });
    } finally {
      ch.shutdownNow();
    }
  }

  private static DispatchRequest dispatch(ExpertPool pool, int tokens) {
    int dim = pool.config().hiddenSize();
    int k = pool.config().numExpertsPerTok();
    int[] ids = new int[tokens * k];
    float[] weights = new float[tokens * k];
    for (int i = 0; i < ids.length; i++) {
      ids[i] = i % k;
      weights[i] = 0.25f;
    }
    return DispatchRequest.newBuilder()
        .setLayer(pool.moeLayers().getFirst())
        .setHidden(Tensors.f32(new float[tokens * dim], tokens, dim))
        .setExpertIds(Tensors.i32(ids, tokens, k))
        .setRoutingWeights(Tensors.f32(weights, tokens, k))
        .build();
  }
}
