package io.disaggmoe.cli;

import io.opentelemetry.sdk.autoconfigure.AutoConfiguredOpenTelemetrySdk;

/**
 * OpenTelemetry for this process, configured the standard way ({@code OTEL_EXPORTER_OTLP_ENDPOINT},
 * {@code OTEL_SERVICE_NAME}, {@code OTEL_TRACES_SAMPLER}, ...) when any {@code OTEL_} variable is
 * set; otherwise tracing stays a no-op and costs nothing.
 */
final class Telemetry {
  private Telemetry() {}

  static void configureFromEnvironment() {
    boolean configured =
        System.getenv().keySet().stream().anyMatch(k -> k.startsWith("OTEL_"))
            || System.getProperties().stringPropertyNames().stream()
                .anyMatch(k -> k.startsWith("otel."));
    if (configured) {
      AutoConfiguredOpenTelemetrySdk.initialize();
    }
  }
}
