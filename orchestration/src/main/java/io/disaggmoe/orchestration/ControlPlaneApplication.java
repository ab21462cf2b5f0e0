package io.disaggmoe.orchestration;

import io.disaggmoe.proto.spring.ReadyAnnouncer;
import java.util.Map;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;

/** The control-plane process: {@code disaggmoe.control-plane.lease}, {@code .heartbeat}. */
@SpringBootApplication
public class ControlPlaneApplication {
  /** The name in its ready line ({@link ReadyAnnouncer}). */
  public static final String SERVICE = "control-plane";

  /** What launchers wait for on its standard output. */
  public static final String READY_PREFIX = ReadyAnnouncer.prefix(SERVICE);

  /** Its settings file, {@code control-plane.properties}. */
  public static final String CONFIG_NAME = "control-plane";

  public static void main(String[] args) {
    SpringApplication app = new SpringApplication(ControlPlaneApplication.class);
    app.setDefaultProperties(Map.of("spring.config.name", CONFIG_NAME));
    app.run(args);
  }
}
