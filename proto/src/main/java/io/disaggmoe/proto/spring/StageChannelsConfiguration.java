package io.disaggmoe.proto.spring;

import io.disaggmoe.proto.wire.StageChannels;
import io.disaggmoe.proto.wire.TransportSecurity;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * The process's transport security, from {@code disaggmoe.tls.certificate}, {@code
 * disaggmoe.tls.private-key} and {@code disaggmoe.tls.ca} (PEM files; none of them: plaintext), and
 * the channel factory that applies it to every channel the process opens to another stage.
 */
@Configuration(proxyBeanMethods = false)
public class StageChannelsConfiguration {
  public static final String CERTIFICATE = "disaggmoe.tls.certificate";
  public static final String PRIVATE_KEY = "disaggmoe.tls.private-key";
  public static final String CA = "disaggmoe.tls.ca";

  @Bean
  TransportSecurity transportSecurity(
      @Value("${" + CERTIFICATE + ":}") String certificate,
      @Value("${" + PRIVATE_KEY + ":}") String key,
      @Value("${" + CA + ":}") String ca) {
    return TransportSecurity.fromSettings(certificate, key, ca);
  }

  @Bean
  StageChannels stageChannels(TransportSecurity security) {
    return new StageChannels(security);
  }

  /** {@code disaggmoe.control-plane.address}: where this stage registers; unset, it does not. */
  public static final String CONTROL_PLANE = "disaggmoe.control-plane.address";

  /** {@code disaggmoe.advertised-host}: the host others reach this stage at. */
  public static final String ADVERTISED_HOST = "disaggmoe.advertised-host";

  /** {@code disaggmoe.advertised-port}: the port others reach this stage at; 0: its own. */
  public static final String ADVERTISED_PORT = "disaggmoe.advertised-port";

  /** Registers the stage with the control plane, when it names one and describes itself. */
  @Bean(destroyMethod = "close")
  ControlPlaneRegistration controlPlaneRegistration(
      @Value("${" + CONTROL_PLANE + ":}") String plane,
      @Value("${" + ADVERTISED_HOST + ":${spring.grpc.server.address:}}") String host,
      @Value("${" + ADVERTISED_PORT + ":0}") int port,
      StageChannels channels,
      ObjectProvider<InstanceDescription> description) {
    InstanceDescription d = description.getIfAvailable();
    return new ControlPlaneRegistration(
        d == null ? "" : plane, host.equals("0.0.0.0") ? "" : host, port, channels, d);
  }
}
