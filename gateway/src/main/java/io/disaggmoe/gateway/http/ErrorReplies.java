package io.disaggmoe.gateway.http;

import io.disaggmoe.gateway.core.ApiException;
import java.lang.System.Logger.Level;
import org.springframework.core.annotation.Order;
import org.springframework.core.io.buffer.DataBufferLimitException;
import org.springframework.http.HttpStatusCode;
import org.springframework.http.MediaType;
import org.springframework.http.server.reactive.ServerHttpResponse;
import org.springframework.stereotype.Component;
import org.springframework.web.server.ResponseStatusException;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.server.WebExceptionHandler;
import reactor.core.publisher.Mono;
import tools.jackson.databind.node.ObjectNode;

/**
 * Every failure becomes OpenAI's error envelope {@code {"error": {"message", "type", "param",
 * "code"}}} with its status: the gateway's own refusals, unknown routes (404), wrong methods (405),
 * bodies over the limit (413), and anything unexpected (500, logged).
 */
@Component
@Order(-2)
final class ErrorReplies implements WebExceptionHandler {
  private static final System.Logger LOG = System.getLogger(ErrorReplies.class.getName());

  @Override
  public Mono<Void> handle(ServerWebExchange ex, Throwable t) {
    if (ex.getResponse().isCommitted()) {
      return Mono.error(t);
    }
    return write(ex, toApi(t));
  }

  static Mono<Void> write(ServerWebExchange ex, ApiException e) {
    ServerHttpResponse r = ex.getResponse();
    r.setStatusCode(HttpStatusCode.valueOf(e.httpStatus()));
    r.getHeaders().setContentType(MediaType.APPLICATION_JSON);
    if (e.retryAfterSeconds() > 0) {
      r.getHeaders().set("Retry-After", String.valueOf(e.retryAfterSeconds()));
    }
    if (!e.shouldRetry()) {
      r.getHeaders().set("x-should-retry", "false");
    }
    return r.writeWith(Mono.just(HttpReplies.buffer(r, envelope(e))));
  }

  static String envelope(ApiException e) {
    ObjectNode root = Json.object();
    ObjectNode error = root.putObject("error");
    error.put("message", e.getMessage());
    error.put("type", e.type());
    error.put("param", e.param());
    error.put("code", e.code());
    return root.toString();
  }

  static ApiException noRoute() {
    return ApiException.notFound("no such route", null, "not_found");
  }

  static ApiException wrongMethod() {
    return ApiException.badRequestWithStatus(405, "method not allowed for this route");
  }

  static ApiException toApi(Throwable t) {
    for (Throwable c = t; c != null; c = c.getCause()) {
      if (c instanceof ApiException a) {
        return a;
      }
      if (c instanceof DataBufferLimitException) {
        return ApiException.tooLarge(
            "the request body is larger than the limit: " + c.getMessage());
      }
    }
    if (t instanceof ResponseStatusException rse) {
      int code = rse.getStatusCode().value();
      if (code == 413) {
        return ApiException.tooLarge("the request body is larger than the limit");
      }
      if (code < 500) {
        return ApiException.badRequestWithStatus(code, String.valueOf(rse.getReason()));
      }
    }
    LOG.log(Level.ERROR, "request failed", t);
    return ApiException.internal("internal error: " + t.getClass().getSimpleName());
  }
}
