package io.disaggmoe.proto.wire;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.disaggmoe.proto.v1.GetStatsRequest;
import io.disaggmoe.proto.v1.KvCacheServiceGrpc;
import io.disaggmoe.proto.v1.KvCacheStats;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A stage server with mutual TLS against clients with and without the right certificate. */
class TransportSecurityTest {
  @TempDir Path dir;
  private TransportSecurity.TlsFiles serverFiles;
  private Server server;
  private String target;

  @BeforeEach
  void start() throws Exception {
    ThrowawayCa ca = ThrowawayCa.create("test CA");
    serverFiles = ca.issue(dir.resolve("stages"), "server");
    TransportSecurity security = TransportSecurity.mutualTls(serverFiles);
    server =
        security
            .secure(NettyServerBuilder.forPort(0))
            .addService(
                new KvCacheServiceGrpc.KvCacheServiceImplBase() {
                  @Override
                  public void getStats(GetStatsRequest r, StreamObserver<KvCacheStats> out) {
                    out.onNext(KvCacheStats.newBuilder().setBlocks(7).build());
                    out.onCompleted();
                  }
                })
            .build()
            .start();
    target = "localhost:" + server.getPort();
  }

  @AfterEach
  void stop() throws InterruptedException {
    server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }

  private long blocksThrough(StageChannels channels) {
    ManagedChannel c = channels.open(target, StageChannels.Kind.CALLS);
    try {
      return KvCacheServiceGrpc.newBlockingStub(c)
          .withDeadlineAfter(10, TimeUnit.SECONDS)
          .getStats(GetStatsRequest.getDefaultInstance())
          .getBlocks();
    } finally {
      c.shutdownNow();
    }
  }

  @Test
  void aClientWithACertificateOfTheSameCaIsServed() {
    assertThat(blocksThrough(new StageChannels(TransportSecurity.mutualTls(serverFiles))))
        .isEqualTo(7);
  }

  @Test
  void aPlaintextClientIsRefused() {
    assertThatThrownBy(() -> blocksThrough(StageChannels.plaintext()))
        .isInstanceOf(StatusRuntimeException.class)
        .satisfies(
            e ->
                assertThat(((StatusRuntimeException) e).getStatus().getCode())
                    .isEqualTo(Status.Code.UNAVAILABLE));
  }

  @Test
  void aClientSignedByAnotherCaIsRefused() throws Exception {
    // The stranger trusts the server's CA, so only the server's check of the client can fail.
    TransportSecurity.TlsFiles stranger =
        ThrowawayCa.create("another CA").issue(dir.resolve("stranger"), "client");
    TransportSecurity.TlsFiles mixed =
        new TransportSecurity.TlsFiles(
            stranger.certificate(), stranger.privateKey(), serverFiles.trustedCa());
    assertThatThrownBy(() -> blocksThrough(new StageChannels(TransportSecurity.mutualTls(mixed))))
        .isInstanceOf(StatusRuntimeException.class)
        .satisfies(
            e ->
                assertThat(((StatusRuntimeException) e).getStatus().getCode())
                    .isEqualTo(Status.Code.UNAVAILABLE));
  }

  @Test
  void aServerSignedByAnotherCaIsRefusedByTheClient() throws Exception {
    TransportSecurity.TlsFiles other =
        ThrowawayCa.create("another CA").issue(dir.resolve("other"), "client");
    assertThatThrownBy(() -> blocksThrough(new StageChannels(TransportSecurity.mutualTls(other))))
        .isInstanceOf(StatusRuntimeException.class);
  }

  @Test
  void settingsNeedAllThreeFilesOrNone() {
    assertThat(TransportSecurity.fromSettings("", " ", null).enabled()).isFalse();
    assertThatThrownBy(
            () -> TransportSecurity.fromSettings(serverFiles.certificate().toString(), "", ""))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("certificate, a private key and a CA");
  }

  @Test
  void aMissingOrMalformedFileIsNamed() throws Exception {
    Path missing = dir.resolve("nope.pem");
    assertThatThrownBy(
            () ->
                TransportSecurity.mutualTls(
                    new TransportSecurity.TlsFiles(
                        missing, serverFiles.privateKey(), serverFiles.trustedCa())))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(missing.toString());
    Path garbage = Files.writeString(dir.resolve("garbage.key"), "not a key");
    assertThatThrownBy(
            () ->
                TransportSecurity.mutualTls(
                    new TransportSecurity.TlsFiles(
                        serverFiles.certificate(), garbage, serverFiles.trustedCa())))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(garbage.toString());
  }
}
