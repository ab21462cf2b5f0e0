/**
 * Spring wiring every gRPC stage shares: transport security from its settings, the channel factory,
 * the server's TLS and tracing, and the ready line launchers wait for. Each service imports {@link
 * io.disaggmoe.proto.spring.StageServerConfiguration}; the gateway, whose own gRPC server faces
 * external clients, imports only {@link io.disaggmoe.proto.spring.StageChannelsConfiguration}.
 */
package io.disaggmoe.proto.spring;
