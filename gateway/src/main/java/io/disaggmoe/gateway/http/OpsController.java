package io.disaggmoe.gateway.http;

import io.disaggmoe.gateway.core.AttentionStage;
import io.disaggmoe.gateway.core.KvCacheStage;
import io.disaggmoe.gateway.core.StageRouter;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.List;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.stereotype.Component;
import org.springframework.web.server.ServerWebExchange;
import reactor.core.publisher.Mono;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * {@code /health}: 200 only when every stage a request needs answers (kv-cache-service, and at
 * least one prefill and one decode instance), with each instance's state in the body; {@code
 * /metrics}: Prometheus text.
 */
@Component
final class OpsController {
  private final StageRouter router;
  private final KvCacheStage kv;
  private final PrometheusMeterRegistry registry;

  OpsController(StageRouter router, KvCacheStage kv, PrometheusMeterRegistry registry) {
    this.router = router;
    this.kv = kv;
    this.registry = registry;
  }

  Mono<Void> health(ServerWebExchange ex) {
    ObjectNode root = Json.object();
    ArrayNode stages = root.putArray("stages");
    boolean prefill = add(stages, "prefill", router.prefills());
    boolean decode = add(stages, "decode", router.decodes());
    stages
        .addObject()
        .put("role", "kv-cache")
        .put("address", kv.address())
        .put("healthy", kv.healthy());
    boolean ok = prefill && decode && kv.healthy();
    root.put("status", ok ? "ok" : "unavailable");
    return HttpReplies.json(
        ex, ok ? HttpStatus.OK : HttpStatus.SERVICE_UNAVAILABLE, root.toString());
  }

  private static boolean add(ArrayNode stages, String role, List<AttentionStage> instances) {
    boolean any = false;
    for (AttentionStage s : instances) {
      stages
          .addObject()
          .put("role", role)
          .put("address", s.address())
          .put("healthy", s.healthy())
          .put("breaker", s.breaker());
      any |= s.healthy();
    }
    return any;
  }

  Mono<Void> metrics(ServerWebExchange ex) {
    var r = ex.getResponse();
    r.setStatusCode(HttpStatus.OK);
    r.getHeaders()
        .setContentType(MediaType.parseMediaType("text/plain; version=0.0.4; charset=utf-8"));
    return r.writeWith(Mono.just(HttpReplies.buffer(r, registry.scrape())));
  }
}
