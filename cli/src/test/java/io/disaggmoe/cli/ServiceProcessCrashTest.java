package io.disaggmoe.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.kvcache.KvCacheServiceApplication;
import io.grpc.ManagedChannel;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A service whose JVM crashes while it writes its class-data archive (JDK 25 did so once, starting
 * a kv-cache process) is started again without writing one, instead of failing the whole start.
 */
class ServiceProcessCrashTest {
  @TempDir Path archives;

  @Test
  void aJvmThatCrashesWritingItsArchiveIsStartedAgainWithoutOne() throws Exception {
    String before = System.getProperty(ClassDataArchive.DIR_PROPERTY);
    System.setProperty(ClassDataArchive.DIR_PROPERTY, archives.toString());
    try (ServiceProcess kv =
        ServiceProcess.start(
            "kv-cache-service",
            KvCacheServiceApplication.READY_PREFIX,
            List.of("kv-cache", "--port", "0", "--host", "127.0.0.1"),
            Map.of(ClassDataArchive.CRASH_ENV, "1"))) {
      String target = kv.target();
      assertThat(kv.restartedAfterCrash())
          .as("the first JVM wrote an archive and crashed (exit 134)")
          .isTrue();
      ManagedChannel ch = NettyChannelBuilder.forTarget(target).usePlaintext().build();
      try {
        assertThat(
                HealthGrpc.newBlockingStub(ch)
                    .withDeadlineAfter(10, TimeUnit.SECONDS)
                    .check(HealthCheckRequest.getDefaultInstance())
                    .getStatus())
            .isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
      } finally {
        ch.shutdownNow();
      }
    } finally {
      if (before == null) {
        System.clearProperty(ClassDataArchive.DIR_PROPERTY);
      } else {
        System.setProperty(ClassDataArchive.DIR_PROPERTY, before);
      }
    }
    try (var left = Files.list(archives)) {
      assertThat(left.toList())
          .as("no archive and no half-written one: the crashed JVM's is removed")
          .isEmpty();
    }
  }
}
