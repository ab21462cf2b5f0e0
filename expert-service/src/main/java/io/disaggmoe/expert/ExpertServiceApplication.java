package io.disaggmoe.expert;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;

/** The expert-service process: {@code disaggmoe.expert.model}, {@code .pool}, {@code .replicas}. */
@SpringBootApplication
public class ExpertServiceApplication {
  public static void main(String[] args) {
    SpringApplication.run(ExpertServiceApplication.class, args);
  }
}
