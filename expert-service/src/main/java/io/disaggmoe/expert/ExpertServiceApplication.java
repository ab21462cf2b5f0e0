package io.disaggmoe.expert;

import java.util.Map;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;

/** The expert-service process: {@code disaggmoe.expert.model}, {@code .pool}, {@code .replicas}. */
@SpringBootApplication
public class ExpertServiceApplication {
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
