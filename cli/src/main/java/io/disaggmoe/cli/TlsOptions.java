package io.disaggmoe.cli;

import io.disaggmoe.proto.spring.StageChannelsConfiguration;
import io.disaggmoe.proto.spring.StageServerConfiguration;
import io.disaggmoe.proto.wire.TransportSecurity;
import java.nio.file.Path;
import java.util.Map;
import picocli.CommandLine.Option;

/**
 * {@code --tls-cert}, {@code --tls-key}, {@code --tls-ca}: mutual TLS 1.3 between stages. A gRPC
 * stage's server then requires a client certificate signed by the CA, and every channel it opens to
 * another stage presents its own; the gateway uses them for its channels to the stages only.
 */
final class TlsOptions {
  @Option(
      names = "--tls-cert",
      description = "PEM certificate chain of this stage (with --tls-key and --tls-ca)")
  Path certificate;

  @Option(names = "--tls-key", description = "PEM PKCS#8 private key of --tls-cert")
  Path key;

  @Option(names = "--tls-ca", description = "PEM certificate of the CA every stage's is signed by")
  Path ca;

  /**
   * The settings of a stage whose gRPC server requires client certificates ({@code grpcServer}), or
   * of the gateway, which uses them for its channels to the stages only.
   */
  void addTo(Map<String, String> properties, boolean grpcServer) {
    put(properties, StageChannelsConfiguration.CERTIFICATE, certificate);
    put(properties, StageChannelsConfiguration.PRIVATE_KEY, key);
    put(properties, StageChannelsConfiguration.CA, ca);
    if (grpcServer && certificate != null && key != null && ca != null) {
      properties.putAll(
          StageServerConfiguration.serverProperties(
              new TransportSecurity.TlsFiles(certificate, key, ca)));
    }
  }

  private static void put(Map<String, String> properties, String name, Path file) {
    if (file != null) {
      properties.put(name, file.toAbsolutePath().toString());
    }
  }
}
