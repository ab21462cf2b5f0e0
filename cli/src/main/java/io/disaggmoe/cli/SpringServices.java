package io.disaggmoe.cli;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.web.server.context.WebServerInitializedEvent;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.event.ContextClosedEvent;
import org.springframework.grpc.server.lifecycle.GrpcServerStartedEvent;

/**
 * Runs a service's Spring Boot application. Each reads its own settings file ({@code
 * configName.properties}) whatever else shares the class path, and only the gateway serves HTTP:
 * the gRPC services would otherwise start a web server because WebFlux is on the class path.
 */
final class SpringServices {
  private SpringServices() {}

  /** A started service: its context and the ports it bound (-1 for a server it does not run). */
  record Running(ConfigurableApplicationContext context, int grpcPort, int httpPort)
      implements AutoCloseable {
    /** The port clients use: HTTP for the gateway, gRPC for the others. */
    int port() {
      return httpPort > 0 ? httpPort : grpcPort;
    }

    @Override
    public void close() {
      context.close();
    }
  }

  /** Runs the service until it is stopped (SIGTERM shuts it down cleanly). */
  static int runUntilStopped(ServiceSpec spec) throws InterruptedException {
    Map<String, String> props = spec.properties();
    CountDownLatch closed = new CountDownLatch(1);
    SpringApplication app = application(spec.application(), spec.configName(), props);
    app.addListeners(
        event -> {
          if (event instanceof ContextClosedEvent) {
            closed.countDown();
          }
        });
    ConfigurableApplicationContext context = app.run(arguments(props));
    if (!context.isActive()) {
      return 1;
    }
    ServingHeap.afterLoading();
    closed.await();
    return 0;
  }

  /** Starts the service in this JVM and returns once its server listens. */
  static Running start(ServiceSpec spec) {
    Map<String, String> props = spec.properties();
    int[] port = {-1, -1};
    SpringApplication app = application(spec.application(), spec.configName(), props);
    app.addListeners(
        event -> {
          if (event instanceof GrpcServerStartedEvent started) {
            port[0] = started.getPort();
          } else if (event instanceof WebServerInitializedEvent web) {
            port[1] = web.getWebServer().getPort();
          }
        });
    ConfigurableApplicationContext context = app.run(arguments(props));
    return new Running(context, port[0], port[1]);
  }

  private static SpringApplication application(
      Class<?> application, String configName, Map<String, String> props) {
    SpringApplication app = new SpringApplication(application);
    Map<String, Object> defaults = new HashMap<>();
    defaults.put("spring.config.name", configName);
    if (!props.containsKey("spring.main.web-application-type")) {
      defaults.put("spring.main.web-application-type", "none");
    }
    app.setDefaultProperties(defaults);
    return app;
  }

  private static String[] arguments(Map<String, String> props) {
    List<String> args = new ArrayList<>();
    props.forEach((k, v) -> args.add("--" + k + "=" + v));
    return args.toArray(String[]::new);
  }
}
