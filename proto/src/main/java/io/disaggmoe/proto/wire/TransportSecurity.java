package io.disaggmoe.proto.wire;

import io.grpc.netty.shaded.io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.shaded.io.netty.handler.ssl.ClientAuth;
import io.grpc.netty.shaded.io.netty.handler.ssl.SslContext;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import javax.net.ssl.SSLException;

/**
 * How stages authenticate one another: plaintext, or mutual TLS 1.3 where every server requires a
 * client certificate signed by the same CA as its own. One instance is built per process from its
 * settings and handed to its server and to every channel it opens.
 */
public final class TransportSecurity {
  /** The TLS protocol stages speak; older ones are refused in both directions. */
  public static final String PROTOCOL = "TLSv1.3";

  /** PEM files: this process's certificate chain, its PKCS#8 private key, the CA it trusts. */
  public record TlsFiles(Path certificate, Path privateKey, Path trustedCa) {}

  private static final TransportSecurity PLAINTEXT = new TransportSecurity(null, null, null);

  private final TlsFiles files;
  private final SslContext client;
  private final SslContext server;

  private TransportSecurity(TlsFiles files, SslContext client, SslContext server) {
    this.files = files;
    this.client = client;
    this.server = server;
  }

  public static TransportSecurity plaintext() {
    return PLAINTEXT;
  }

  /**
   * Reads the three files now, so that a missing or malformed one fails at start-up with its name
   * rather than at the first connection.
   *
   * @throws IllegalArgumentException naming the file that cannot be read or used
   */
  public static TransportSecurity mutualTls(TlsFiles files) {
    for (Path p : new Path[] {files.certificate(), files.privateKey(), files.trustedCa()}) {
      if (!Files.isReadable(p)) {
        throw new IllegalArgumentException("TLS file " + p + " does not exist or is not readable");
      }
    }
    try {
      SslContext client =
          GrpcSslContexts.forClient()
              .keyManager(files.certificate().toFile(), files.privateKey().toFile())
              .trustManager(files.trustedCa().toFile())
              .protocols(PROTOCOL)
              .build();
      SslContext server =
          GrpcSslContexts.forServer(files.certificate().toFile(), files.privateKey().toFile())
              .trustManager(files.trustedCa().toFile())
              .clientAuth(ClientAuth.REQUIRE)
              .protocols(PROTOCOL)
              .build();
      return new TransportSecurity(files, client, server);
    } catch (SSLException | IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "cannot use TLS certificate "
              + files.certificate()
              + ", key "
              + files.privateKey()
              + " and CA "
              + files.trustedCa()
              + ": "
              + e.getMessage(),
          e);
    }
  }

  /**
   * Plaintext when all three paths are null or blank, mutual TLS when all three are given.
   *
   * @throws IllegalArgumentException when only some are given
   */
  public static TransportSecurity fromSettings(String certificate, String key, String ca) {
    boolean none = blank(certificate) && blank(key) && blank(ca);
    if (none) {
      return plaintext();
    }
    if (blank(certificate) || blank(key) || blank(ca)) {
      throw new IllegalArgumentException(
          "TLS needs a certificate, a private key and a CA; got certificate="
              + certificate
              + ", key="
              + key
              + ", ca="
              + ca);
    }
    return mutualTls(new TlsFiles(Path.of(certificate), Path.of(key), Path.of(ca)));
  }

  private static boolean blank(String s) {
    return s == null || s.isBlank();
  }

  public boolean enabled() {
    return files != null;
  }

  /** The files in use; empty when plaintext. */
  public Optional<TlsFiles> files() {
    return Optional.ofNullable(files);
  }

  public NettyChannelBuilder secure(NettyChannelBuilder b) {
    return enabled() ? b.sslContext(client) : b.usePlaintext();
  }

  public NettyServerBuilder secure(NettyServerBuilder b) {
    return enabled() ? b.sslContext(server) : b;
  }

  @Override
  public String toString() {
    return enabled() ? "mutual TLS (CA " + files.trustedCa() + ")" : "plaintext";
  }
}
