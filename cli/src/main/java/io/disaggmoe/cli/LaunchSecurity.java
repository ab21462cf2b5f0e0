package io.disaggmoe.cli;

import io.disaggmoe.proto.wire.StageChannels;
import io.disaggmoe.proto.wire.ThrowawayCa;
import io.disaggmoe.proto.wire.TransportSecurity;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.springframework.util.FileSystemUtils;

/**
 * How the stages a launcher starts on this machine talk: plaintext, or mutual TLS with a CA made
 * for this run ({@code --tls}), whose files live in a temporary directory removed on close.
 */
final class LaunchSecurity implements AutoCloseable {
  private static final LaunchSecurity PLAINTEXT = new LaunchSecurity(null, null);

  private final Path dir;
  private final TransportSecurity.TlsFiles files;
  private final StageChannels channels;

  private LaunchSecurity(Path dir, TransportSecurity.TlsFiles files) {
    this.dir = dir;
    this.files = files;
    this.channels =
        new StageChannels(
            files == null ? TransportSecurity.plaintext() : TransportSecurity.mutualTls(files));
  }

  static LaunchSecurity plaintext() {
    return PLAINTEXT;
  }

  /** A throwaway CA, and one certificate every stage (and this launcher) presents. */
  static LaunchSecurity throwawayTls() throws IOException {
    Path dir = Files.createTempDirectory("disaggmoe-tls-");
    return new LaunchSecurity(dir, ThrowawayCa.create("disaggmoe local CA").issue(dir, "stage"));
  }

  static LaunchSecurity of(boolean tls) throws IOException {
    return tls ? throwawayTls() : plaintext();
  }

  /** The {@code serve} options that give a stage these certificates. */
  List<String> serveArgs() {
    if (files == null) {
      return List.of();
    }
    return List.of(
        "--tls-cert",
        files.certificate().toString(),
        "--tls-key",
        files.privateKey().toString(),
        "--tls-ca",
        files.trustedCa().toString());
  }

  /** Channels from this launcher to the stages it started. */
  StageChannels channels() {
    return channels;
  }

  @Override
  public void close() throws IOException {
    // Plaintext has no directory: Spring's delete takes null as nothing to delete.
    FileSystemUtils.deleteRecursively(dir);
  }
}
