package io.disaggmoe.gateway.core;

import io.opentelemetry.api.GlobalOpenTelemetry;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.context.Context;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The span of one generation request at the gateway, named and described with OpenTelemetry's GenAI
 * semantic conventions ({@code chat tiny}, {@code gen_ai.request.*}, {@code gen_ai.usage.*}). Every
 * stage's spans of the request are its descendants.
 */
public final class GenAiSpan {
  private final Span span;
  private final Context context;
  private final String model;
  private final AtomicBoolean ended = new AtomicBoolean();

  private GenAiSpan(Span span, Context context, String model) {
    this.span = span;
    this.context = context;
    this.model = model;
  }

  /**
   * Starts the span under {@code parent} (the client's trace, when it sent a {@code traceparent}).
   */
  public static GenAiSpan start(
      Context parent, String operation, String model, int maxTokens, double temperature, int n) {
    Span span =
        GlobalOpenTelemetry.getTracer("io.disaggmoe")
            .spanBuilder(operation + " " + model)
            .setSpanKind(SpanKind.SERVER)
            .setParent(parent)
            .setAttribute("gen_ai.operation.name", operation)
            .setAttribute("gen_ai.provider.name", "disaggmoe")
            .setAttribute("gen_ai.request.model", model)
            .setAttribute("gen_ai.request.max_tokens", maxTokens)
            .setAttribute("gen_ai.request.temperature", temperature)
            .setAttribute("gen_ai.request.choice.count", n)
            .startSpan();
    return new GenAiSpan(span, parent.with(span), model);
  }

  public Context context() {
    return context;
  }

  /** Ends the span (once) with what the response held, or the error that ended it. */
  public void end(
      String responseId,
      int inputTokens,
      int outputTokens,
      List<String> finishReasons,
      Throwable error) {
    if (!ended.compareAndSet(false, true)) {
      return;
    }
    span.setAttribute("gen_ai.response.id", responseId);
    span.setAttribute("gen_ai.response.model", model);
    span.setAttribute("gen_ai.usage.input_tokens", inputTokens);
    span.setAttribute("gen_ai.usage.output_tokens", outputTokens);
    span.setAttribute(AttributeKey.stringArrayKey("gen_ai.response.finish_reasons"), finishReasons);
    if (error != null) {
      span.setStatus(StatusCode.ERROR, String.valueOf(error.getMessage()));
      span.setAttribute("error.type", error.getClass().getSimpleName());
    }
    span.end();
  }
}
