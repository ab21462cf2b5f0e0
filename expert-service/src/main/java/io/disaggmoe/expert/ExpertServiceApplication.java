package io.disaggmoe.expert;

import io.disaggmoe.proto.spring.ReadyAnnouncer;
import java.util.Map;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;

/** The expert-service process: {@code disaggmoe.expert.model}, {@code .pool}, {@code .replicas}. */
@SpringBootApplication
public class ExpertServiceApplication {
  /** The name in its ready line ({@link ReadyAnnouncer}). */
  public static final String SERVICE = "expert-service";

  /** What launchers wait for on its standard output. */
  public static final String READY_PREFIX = ReadyAnnouncer.prefix(SERVICE);

  /**
   * Its settings file, {@code expert-service.properties}: services share a class path (the command
   * line, a JVM running several), where one {@code application.properties} would hide the others.
   */
  public static final String CONFIG_NAME = "expert-service";

  public static void main(String[] args) {
    SpringApplication app = new SpringApplication(ExpertServiceApplication.class);
    app.setDefaultProperties(Map.of("spring.config.name", CONFIG_NAME));
    app.run(args);
  }
}
