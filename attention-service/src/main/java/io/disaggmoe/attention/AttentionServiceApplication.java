package io.disaggmoe.attention;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;

/** The attention-service process: {@code disaggmoe.attention.model}, {@code .experts}, ... */
@SpringBootApplication
public class AttentionServiceApplication {
  public static void main(String[] args) {
    SpringApplication.run(AttentionServiceApplication.class, args);
  }
}
