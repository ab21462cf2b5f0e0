package io.disaggmoe.gateway.http;

import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.http.server.reactive.HttpHandler;
import org.springframework.web.server.adapter.WebHttpHandlerBuilder;

/**
 * The HTTP server's handler: {@link GatewayRoutes}, every failure written by {@link ErrorReplies}.
 * Being a bean, it takes the place of the one Spring Boot would build around a DispatcherHandler.
 */
@Configuration(proxyBeanMethods = false)
class HttpHandlerConfiguration {
  @Bean
  HttpHandler httpHandler(GatewayRoutes routes, ErrorReplies errors) {
    return WebHttpHandlerBuilder.webHandler(routes).exceptionHandler(errors).build();
  }
}
