package io.disaggmoe.gateway.http;

import io.opentelemetry.api.GlobalOpenTelemetry;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.propagation.TextMapGetter;
import org.springframework.http.HttpHeaders;
import org.springframework.web.server.ServerWebExchange;

/** The trace a client's request continues: its W3C {@code traceparent} header, if it sent one. */
final class HttpTraceContext {
  private static final TextMapGetter<HttpHeaders> HEADERS =
      new TextMapGetter<>() {
        @Override
        public Iterable<String> keys(HttpHeaders carrier) {
          return carrier.headerNames();
        }

        @Override
        public String get(HttpHeaders carrier, String key) {
          return carrier == null ? null : carrier.getFirst(key);
        }
      };

  private HttpTraceContext() {}

  static Context of(ServerWebExchange ex) {
    return GlobalOpenTelemetry.getPropagators()
        .getTextMapPropagator()
        .extract(Context.root(), ex.getRequest().getHeaders(), HEADERS);
  }
}
