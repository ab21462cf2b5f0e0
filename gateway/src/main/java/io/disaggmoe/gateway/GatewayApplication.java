package io.disaggmoe.gateway;

import java.util.Map;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;

/** The gateway process: {@code disaggmoe.gateway.model}, {@code .prefill}, {@code .decode}, ... */
@SpringBootApplication
public class GatewayApplication {
  /** Its settings file, {@code gateway.properties}, so that it never reads another service's. */
  public static final String CONFIG_NAME = "gateway";

  public static void main(String[] args) {
    SpringApplication app = new SpringApplication(GatewayApplication.class);
    app.setDefaultProperties(Map.of("spring.config.name", CONFIG_NAME));
    app.run(args);
  }
}
