package io.disaggmoe.gateway.http;

import io.disaggmoe.gateway.config.GatewayProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.http.server.reactive.HttpHandler;
import org.springframework.web.cors.CorsConfiguration;
import org.springframework.web.cors.reactive.CorsWebFilter;
import org.springframework.web.server.adapter.WebHttpHandlerBuilder;

/**
 * The HTTP server's handler: {@link GatewayRoutes}, every failure written by {@link ErrorReplies},
 * behind a CORS filter that answers browsers' preflight requests and marks the replies a page's
 * script may read (as vLLM's server does: any origin unless limited; no filter when no origin is
 * allowed, so that a client sending an {@code Origin} is not refused). Being a bean, it takes the
 * place of the one Spring Boot would build around a DispatcherHandler.
 */
@Configuration(proxyBeanMethods = false)
class HttpHandlerConfiguration {
  @Bean
  HttpHandler httpHandler(GatewayRoutes routes, ErrorReplies errors, GatewayProperties p) {
    WebHttpHandlerBuilder handler =
        WebHttpHandlerBuilder.webHandler(routes).exceptionHandler(errors);
    if (!p.allowedOrigins().isEmpty()) {
      CorsConfiguration cors = cors(p);
      handler.filter(new CorsWebFilter(exchange -> cors));
    }
    return handler.build();
  }

  private static CorsConfiguration cors(GatewayProperties p) {
    CorsConfiguration c = new CorsConfiguration();
    // Patterns, so that "*" also works with credentials (the caller's origin is echoed).
    c.setAllowedOriginPatterns(p.allowedOrigins());
    c.setAllowedMethods(p.allowedMethods());
    c.setAllowedHeaders(p.allowedHeaders());
    c.setAllowCredentials(p.allowCredentials());
    c.setMaxAge(600L);
    return c;
  }
}
