package io.disaggmoe.proto.telemetry;

import com.sun.net.httpserver.HttpServer;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

/**
 * A gRPC stage's own metrics (every meter tagged with its {@code stage}), served as Prometheus text
 * at {@code GET /metrics} on their own port when one is configured ({@code disaggmoe.metrics-port};
 * 0 picks a free one, negative serves none): the stages speak only gRPC, and Prometheus scrapes
 * HTTP.
 */
public final class StageMetrics implements AutoCloseable {
  public static final String PORT_PROPERTY = "disaggmoe.metrics-port";

  private final PrometheusMeterRegistry registry =
      new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  private final HttpServer server;

  public StageMetrics(String stage, String host, int port) {
    registry.config().commonTags("stage", stage);
    if (port < 0) {
      server = null;
      return;
    }
    try {
      server = HttpServer.create(new InetSocketAddress(host, port), 0);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot serve metrics on " + host + ":" + port, e);
    }
    server.createContext(
        "/metrics",
        exchange -> {
          byte[] body = registry.scrape().getBytes(StandardCharsets.UTF_8);
          exchange
              .getResponseHeaders()
              .set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
          exchange.sendResponseHeaders(200, body.length);
          try (OutputStream out = exchange.getResponseBody()) {
            out.write(body);
          }
        });
    server.start();
  }

  public MeterRegistry registry() {
    return registry;
  }

  /** The bound port, or -1 when no endpoint is served. */
  public int port() {
    return server == null ? -1 : server.getAddress().getPort();
  }

  /** What a ready line adds: {@code ", metrics on port N"}, or nothing. */
  public String readySuffix() {
    return server == null ? "" : ", metrics on port " + port();
  }

  @Override
  public void close() {
    if (server != null) {
      server.stop(0);
    }
    registry.close();
  }
}
