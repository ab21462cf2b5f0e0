package io.disaggmoe.gateway.http;

import io.disaggmoe.gateway.core.ApiException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.server.reactive.ServerHttpResponse;
import org.springframework.web.server.ServerWebExchange;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * Writes replies byte for byte as OpenAI's server does: JSON bodies, and event streams, each event
 * flushed as it is made. A stream that fails before its first event is an ordinary error reply (its
 * status not yet sent); one that fails later ends with the frames its format gives for that.
 */
final class HttpReplies {
  private HttpReplies() {}

  static Mono<Void> json(ServerWebExchange ex, HttpStatus status, String body) {
    ServerHttpResponse r = ex.getResponse();
    r.setStatusCode(status);
    r.getHeaders().setContentType(MediaType.APPLICATION_JSON);
    return r.writeWith(Mono.just(buffer(r, body)));
  }

  /**
   * Writes whole server-sent events as they come; {@code lateError} gives the frames that end a
   * stream failing after its first frame (its status already sent).
   */
  static Mono<Void> eventStream(
      ServerWebExchange ex, Flux<String> frames, Function<ApiException, List<String>> lateError) {
    ServerHttpResponse r = ex.getResponse();
    AtomicBoolean started = new AtomicBoolean();
    Flux<String> all =
        frames
            .doOnNext(x -> started.set(true))
            .onErrorResume(
                e ->
                    started.get()
                        ? Flux.fromIterable(lateError.apply(ErrorReplies.toApi(e)))
                        : Flux.error(e));
    // Hold the headers back until the first event, so a request refused before it (a 503 from
    // admission or an unavailable stage) still gets its own status.
    return all.switchOnFirst(
            (first, rest) -> {
              if (first.hasValue()) {
                r.setStatusCode(HttpStatus.OK);
                r.getHeaders().setContentType(MediaType.TEXT_EVENT_STREAM);
                r.getHeaders().setCacheControl("no-cache");
              }
              return rest;
            })
        .map(frame -> Mono.just(buffer(r, frame)))
        .as(r::writeAndFlushWith);
  }

  static DataBuffer buffer(ServerHttpResponse r, String s) {
    return r.bufferFactory().wrap(s.getBytes(StandardCharsets.UTF_8));
  }
}
