package io.disaggmoe.cli;

import io.disaggmoe.proto.spring.StageChannelsConfiguration;
import java.util.Map;
import picocli.CommandLine.Option;

/** {@code --control-plane}: where a stage registers and keeps its lease. */
final class ControlPlaneOption {
  @Option(
      names = "--control-plane",
      description = "the control plane's HOST:PORT to register with (default: none)")
  String address;

  @Option(
      names = "--advertised-host",
      description = "the host others reach this service at (default: the bound address)")
  String advertisedHost;

  @Option(
      names = "--advertised-port",
      description =
          "the port others reach this service at, where a port mapping or a proxy stands in front"
              + " of it (default: the bound port)")
  Integer advertisedPort;

  void addTo(Map<String, String> properties) {
    if (address != null) {
      properties.put(StageChannelsConfiguration.CONTROL_PLANE, address);
    }
    if (advertisedHost != null) {
      properties.put(StageChannelsConfiguration.ADVERTISED_HOST, advertisedHost);
    }
    if (advertisedPort != null) {
      properties.put(StageChannelsConfiguration.ADVERTISED_PORT, advertisedPort.toString());
    }
  }
}
