package io.disaggmoe.attention;

import io.disaggmoe.proto.spring.ReadyAnnouncer;
import java.util.Map;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;

/** The attention-service process: {@code disaggmoe.attention.model}, {@code .experts}, ... */
@SpringBootApplication
public class AttentionServiceApplication {
  /** The name in its ready line ({@link ReadyAnnouncer}). */
  public static final String SERVICE = "attention-service";

  /** What launchers wait for on its standard output. */
  public static final String READY_PREFIX = ReadyAnnouncer.prefix(SERVICE);

  /**
   * Its settings file, {@code attention-service.properties}: services share a class path (the
   * command line, a JVM running several), where one {@code application.properties} would hide the
   * others.
   */
  public static final String CONFIG_NAME = "attention-service";

  public static void main(String[] args) {
    SpringApplication app = new SpringApplication(AttentionServiceApplication.class);
    app.setDefaultProperties(Map.of("spring.config.name", CONFIG_NAME));
    app.run(args);
  }
}
