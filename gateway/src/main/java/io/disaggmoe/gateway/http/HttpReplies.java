package io.disaggmoe.gateway.http;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicBoolean;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.server.reactive.ServerHttpResponse;
import org.springframework.web.server.ServerWebExchange;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * Writes replies byte for byte as OpenAI's server does: JSON bodies, and event streams of {@code
 * data: ...} lines, each flushed as it is made. A stream that fails before its first event is an
 * ordinary error reply (its status not yet sent); one that fails later ends with {@code data:
 * {"error": ...}} and {@code data: [DONE]}, the one form the official SDKs raise mid-stream.
 */
final class HttpReplies {
  private HttpReplies() {}

  static Mono<Void> json(ServerWebExchange ex, HttpStatus status, String body) {
    ServerHttpResponse r = ex.getResponse();
    r.setStatusCode(status);
    r.getHeaders().setContentType(MediaType.APPLICATION_JSON);
    return r.writeWith(Mono.just(buffer(r, body)));
  }

  static Mono<Void> eventStream(ServerWebExchange ex, Flux<String> payloads) {
    ServerHttpResponse r = ex.getResponse();
    AtomicBoolean started = new AtomicBoolean();
    Flux<String> frames =
        payloads
            .doOnNext(x -> started.set(true))
            .onErrorResume(
                e ->
                    started.get()
                        ? Flux.just(ErrorReplies.envelope(ErrorReplies.toApi(e)), "[DONE]")
                        : Flux.error(e));
    // Hold the headers back until the first event, so a request refused before it (a 503 from
    // admission or an unavailable stage) still gets its own status.
    return frames
        .switchOnFirst(
            (first, all) -> {
              if (first.hasValue()) {
                r.setStatusCode(HttpStatus.OK);
                r.getHeaders().setContentType(MediaType.TEXT_EVENT_STREAM);
                r.getHeaders().setCacheControl("no-cache");
              }
              return all;
            })
        .map(p -> Mono.just(buffer(r, "data: " + p + "\n\n")))
        .as(r::writeAndFlushWith);
  }

  static DataBuffer buffer(ServerHttpResponse r, String s) {
    return r.bufferFactory().wrap(s.getBytes(StandardCharsets.UTF_8));
  }
}
