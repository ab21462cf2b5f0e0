package io.disaggmoe.gateway.http;

import java.util.function.Supplier;
import org.springframework.http.HttpMethod;
import org.springframework.stereotype.Component;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.server.WebHandler;
import reactor.core.publisher.Mono;

/**
 * The gateway's HTTP routes, matched by path and method in one switch. Spring's DispatcherHandler
 * (handler mappings, argument resolvers, result handlers) took 0.4 ms of a request's time to first
 * token before the handler ran, on a machine whose model compute leaves the gateway's code cold;
 * for a dozen fixed routes whose handlers write their own replies, it buys nothing. Unknown routes
 * are 404 and known ones with another method 405, both in OpenAI's envelope (through {@link
 * ErrorReplies}); HEAD is served as GET, its body dropped by Spring's adapter.
 */
@Component
final class GatewayRoutes implements WebHandler {
  private static final String MODELS = "/v1/models";

  private final OpenAiController api;
  private final OpsController ops;

  GatewayRoutes(OpenAiController api, OpsController ops) {
    this.api = api;
    this.ops = ops;
  }

  @Override
  public Mono<Void> handle(ServerWebExchange ex) {
    HttpMethod method = ex.getRequest().getMethod();
    String path = ex.getRequest().getPath().pathWithinApplication().value();
    return switch (path) {
      case "/v1/chat/completions" -> post(method, () -> api.chat(ex));
      case "/v1/completions" -> post(method, () -> api.completions(ex));
      case "/v1/responses" -> post(method, () -> api.responses(ex));
      case "/tokenize" -> post(method, () -> api.tokenize(ex));
      case "/detokenize" -> post(method, () -> api.detokenize(ex));
      case MODELS -> get(method, () -> api.models(ex));
      case "/health" -> get(method, () -> ops.health(ex));
      case "/metrics" -> get(method, () -> ops.metrics(ex));
      default -> {
        String id = path.startsWith(MODELS + "/") ? path.substring(MODELS.length() + 1) : "";
        if (!id.isEmpty() && id.indexOf('/') < 0) {
          yield get(method, () -> api.model(id, ex));
        }
        yield Mono.error(ErrorReplies.noRoute());
      }
    };
  }

  private static Mono<Void> post(HttpMethod method, Supplier<Mono<Void>> handler) {
    return HttpMethod.POST.equals(method) ? call(handler) : Mono.error(ErrorReplies.wrongMethod());
  }

  private static Mono<Void> get(HttpMethod method, Supplier<Mono<Void>> handler) {
    return HttpMethod.GET.equals(method) || HttpMethod.HEAD.equals(method)
        ? call(handler)
        : Mono.error(ErrorReplies.wrongMethod());
  }

  /** A handler that throws before returning its reply fails the reply, as one that returns it. */
  private static Mono<Void> call(Supplier<Mono<Void>> handler) {
    try {
      return handler.get();
    } catch (RuntimeException e) {
      return Mono.error(e);
    }
  }
}
