package io.disaggmoe.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import org.springframework.boot.SpringApplication;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.event.ContextClosedEvent;

/** Runs a service's Spring Boot application until it is stopped (SIGTERM shuts it down cleanly). */
final class SpringServices {
  private SpringServices() {}

  static int runUntilStopped(Class<?> application, Map<String, String> properties)
      throws InterruptedException {
    List<String> args = new ArrayList<>();
    properties.forEach((k, v) -> args.add("--" + k + "=" + v));
    CountDownLatch closed = new CountDownLatch(1);
    SpringApplication app = new SpringApplication(application);
    app.addListeners(
        event -> {
          if (event instanceof ContextClosedEvent) {
            closed.countDown();
          }
        });
    ConfigurableApplicationContext context = app.run(args.toArray(String[]::new));
    if (!context.isActive()) {
      return 1;
    }
    closed.await();
    return 0;
  }
}
