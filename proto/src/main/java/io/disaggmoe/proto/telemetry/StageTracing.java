package io.disaggmoe.proto.telemetry;

import io.grpc.ClientInterceptor;
import io.grpc.ServerInterceptor;
import io.opentelemetry.api.GlobalOpenTelemetry;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.propagation.TextMapGetter;
import io.opentelemetry.instrumentation.grpc.v1_6.GrpcTelemetry;
import java.util.HashMap;
import java.util.Map;

/**
 * Tracing shared by every stage: OpenTelemetry's gRPC interceptors (client and server spans, W3C
 * {@code traceparent} in the metadata) and the trace context carried inside messages that ride a
 * stream shared by many requests. It uses the process's global OpenTelemetry, which is a no-op
 * unless the process configured one (an OTLP endpoint, or a test's in-memory exporter).
 */
public final class StageTracing {
  public static final String INSTRUMENTATION = "io.disaggmoe";

  private static final TextMapGetter<Map<String, String>> MAP_GETTER =
      new TextMapGetter<>() {
        @Override
        public Iterable<String> keys(Map<String, String> carrier) {
          return carrier.keySet();
        }

        @Override
        public String get(Map<String, String> carrier, String key) {
          return carrier == null ? null : carrier.get(key);
        }
      };

  private StageTracing() {}

  public static Tracer tracer() {
    return GlobalOpenTelemetry.getTracer(INSTRUMENTATION);
  }

  public static ServerInterceptor serverInterceptor() {
    return GrpcTelemetry.create(GlobalOpenTelemetry.get()).createServerInterceptor();
  }

  public static ClientInterceptor clientInterceptor() {
    return GrpcTelemetry.create(GlobalOpenTelemetry.get()).createClientInterceptor();
  }

  /** The current context as a W3C {@code traceparent}, or "" when nothing is being traced. */
  public static String traceparent() {
    if (!Span.current().getSpanContext().isValid()) {
      return "";
    }
    Map<String, String> carrier = new HashMap<>();
    W3CTraceContextPropagator.getInstance()
        .inject(Context.current(), carrier, (c, k, v) -> c.put(k, v));
    return carrier.getOrDefault("traceparent", "");
  }

  /**
   * Starts a span under the context a message carried ({@code traceparent}); the caller ends it.
   * With no context it starts nothing (an invalid span), so untraced traffic costs nothing.
   */
  public static Span startFromMessage(String name, SpanKind kind, String traceparent) {
    if (traceparent.isEmpty()) {
      return Span.getInvalid();
    }
    Context parent =
        W3CTraceContextPropagator.getInstance()
            .extract(Context.root(), Map.of("traceparent", traceparent), MAP_GETTER);
    return tracer().spanBuilder(name).setSpanKind(kind).setParent(parent).startSpan();
  }
}
