package io.disaggmoe.attention.core;

import io.opentelemetry.api.GlobalOpenTelemetry;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanBuilder;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.Scope;
import java.util.List;
import java.util.function.Supplier;

/**
 * Traces of the engines' batched work. A request's own calls (cache lookups, block writes) run
 * under its own trace context; a forward pass serves a whole batch, so its span is a child of the
 * batch's oldest request and linked to the others, and the expert dispatches it makes are its
 * children.
 */
final class PassTracing {
  private PassTracing() {}

  static <T> T within(Context context, Supplier<T> work) {
    try (Scope ignored = context.makeCurrent()) {
      return work.get();
    }
  }

  static void within(Context context, Runnable work) {
    try (Scope ignored = context.makeCurrent()) {
      work.run();
    }
  }

  /** Runs one forward pass of {@code requests} (their contexts, oldest first) inside its span. */
  static <T> T pass(String name, List<Context> requests, int tokens, Supplier<T> forward) {
    SpanBuilder b =
        GlobalOpenTelemetry.getTracer("io.disaggmoe")
            .spanBuilder(name)
            .setParent(requests.isEmpty() ? Context.root() : requests.getFirst())
            .setAttribute("disaggmoe.batch.requests", requests.size())
            .setAttribute("disaggmoe.batch.tokens", tokens);
    for (int i = 1; i < requests.size(); i++) {
      b.addLink(Span.fromContext(requests.get(i)).getSpanContext());
    }
    Span span = b.startSpan();
    try (Scope ignored = span.makeCurrent()) {
      return forward.get();
    } finally {
      span.end();
    }
  }
}
