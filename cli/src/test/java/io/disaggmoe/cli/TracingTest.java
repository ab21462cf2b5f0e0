package io.disaggmoe.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.model.gen.CheckpointGenerator;
import io.disaggmoe.model.gen.Preset;
import io.opentelemetry.api.GlobalOpenTelemetry;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.propagation.ContextPropagators;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * One request, one trace: the whole suite in this JVM with an in-memory span exporter; the trace a
 * client starts holds the gateway's GenAI span and spans of prefill, kv-cache-service, decode and
 * the expert pools.
 */
class TracingTest {
  @TempDir Path dir;

  @AfterEach
  void resetTracing() {
    GlobalOpenTelemetry.resetForTest();
  }

  @Test
  void oneTraceHoldsSpansOfEveryStage() throws Exception {
    InMemorySpanExporter exporter = InMemorySpanExporter.create();
    GlobalOpenTelemetry.resetForTest();
    GlobalOpenTelemetry.set(
        OpenTelemetrySdk.builder()
            .setTracerProvider(
                SdkTracerProvider.builder()
                    .addSpanProcessor(SimpleSpanProcessor.create(exporter))
                    .build())
            .setPropagators(ContextPropagators.create(W3CTraceContextPropagator.getInstance()))
            .build());
    Path model = dir.resolve("tiny");
    CheckpointGenerator.generate(Preset.TINY.config(), 0, Preset.TINY.shards(), model);
    String traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    try (LocalSuite suite = LocalSuite.start(LocalSuite.Options.of(model).build())) {
      UpCommand.awaitHealthy(suite.gatewayUrl(), java.time.Duration.ofMinutes(1));
      HttpResponse<String> r =
          HttpClient.newHttpClient()
              .send(
                  HttpRequest.newBuilder(URI.create(suite.gatewayUrl() + "/v1/chat/completions"))
                      .header("Content-Type", "application/json")
                      .header("traceparent", "00-" + traceId + "-00f067aa0ba902b7-01")
                      .POST(
                          HttpRequest.BodyPublishers.ofString(
                              "{\"model\": \"tiny\", \"max_tokens\": 3, \"ignore_eos\": true,"
                                  + " \"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}"))
                      .build(),
                  HttpResponse.BodyHandlers.ofString());
      assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (names(exporter, traceId).stream().noneMatch(n -> n.startsWith("chat "))
          && System.nanoTime() < deadline) {
        Thread.sleep(50);
      }
      Set<String> names = names(exporter, traceId);
      assertThat(names)
          .as("span names of the client's trace")
          .contains(
              "chat tiny",
              "disaggmoe.v1.AttentionService/Prefill",
              "prefill pass",
              "disaggmoe.v1.KvCacheService/MatchPrefix",
              "KvBulk/put",
              "disaggmoe.v1.AttentionService/Decode",
              "decode step",
              "ExpertService/Dispatch");
      SpanData gateway =
          exporter.getFinishedSpanItems().stream()
              .filter(s -> s.getName().equals("chat tiny"))
              .findFirst()
              .orElseThrow();
      assertThat(gateway.getKind()).isEqualTo(SpanKind.SERVER);
      assertThat(gateway.getAttributes().asMap().toString())
          .contains("gen_ai.usage.output_tokens=3")
          .contains("gen_ai.request.model=tiny");
    }
  }

  private static Set<String> names(InMemorySpanExporter exporter, String traceId) {
    List<SpanData> spans = exporter.getFinishedSpanItems();
    Set<String> names = new TreeSet<>();
    for (SpanData s : spans) {
      if (s.getTraceId().equals(traceId)) {
        names.add(s.getName());
      }
    }
    return names;
  }
}
