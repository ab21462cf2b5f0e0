package io.disaggmoe.proto.spring;

import io.disaggmoe.proto.wire.StageChannels;
import io.disaggmoe.proto.wire.TransportSecurity;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLSession;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;
import org.springframework.core.env.Environment;
import org.springframework.grpc.server.GlobalServerInterceptor;
import org.springframework.grpc.server.ServerBuilderCustomizer;

/**
 * What every stage's gRPC server shares: mutual TLS when the process has certificates, and the
 * channel factory for the stages it calls.
 *
 * <p>Spring gRPC builds the server from its own settings ({@link #serverProperties}: an SSL bundle
 * of the same files, client certificates required and checked against the CA); a server that would
 * not require them refuses to start. It offers no setting for the protocol version, so an
 * interceptor refuses every call that did not arrive over TLS 1.3.
 */
@Configuration(proxyBeanMethods = false)
@Import(StageChannelsConfiguration.class)
public class StageServerConfiguration {
  static final String BUNDLE = "disaggmoe-stage";

  /** The Spring settings that make a stage's gRPC server speak mutual TLS with {@code files}. */
  public static Map<String, String> serverProperties(TransportSecurity.TlsFiles files) {
    Map<String, String> p = new LinkedHashMap<>();
    String bundle = "spring.ssl.bundle.pem." + BUNDLE + ".";
    p.put(bundle + "keystore.certificate", location(files.certificate()));
    p.put(bundle + "keystore.private-key", location(files.privateKey()));
    p.put(bundle + "truststore.certificate", location(files.trustedCa()));
    p.put("spring.grpc.server.ssl.bundle", BUNDLE);
    p.put("spring.grpc.server.ssl.client-auth", "require");
    // Without it Spring gRPC trusts any client certificate.
    p.put("spring.grpc.server.ssl.secure", "true");
    return p;
  }

  private static String location(Path file) {
    return "file:" + file.toAbsolutePath();
  }

  /**
   * Stages keep their calls' connections alive with a ping every 30 s ({@code StageChannels}); a
   * server allows pings only every 5 minutes by default and, after a few more frequent ones, sends
   * GOAWAY (too_many_pings), which broke every long stream on it (topology watches, dispatch
   * streams) a few minutes into a run.
   */
  @Bean
  ServerBuilderCustomizer<NettyServerBuilder> permitStagePings() {
    return builder ->
        builder
            .permitKeepAliveTime(StageChannels.KEEP_ALIVE_SECONDS / 2, TimeUnit.SECONDS)
            .permitKeepAliveWithoutCalls(true);
  }

  @Bean
  @GlobalServerInterceptor
  ServerInterceptor tlsSessionCheck(TransportSecurity security, Environment env) {
    if (security.enabled()) {
      requireServerTls(env);
    }
    return new TlsSessionCheck(security.enabled());
  }

  private static void requireServerTls(Environment env) {
    boolean bundled = BUNDLE.equals(env.getProperty("spring.grpc.server.ssl.bundle"));
    boolean required =
        "require".equalsIgnoreCase(env.getProperty("spring.grpc.server.ssl.client-auth"));
    boolean checked = "true".equalsIgnoreCase(env.getProperty("spring.grpc.server.ssl.secure"));
    if (!bundled || !required || !checked) {
      throw new IllegalStateException(
          "disaggmoe.tls.* is set but the gRPC server would not require client certificates: set"
              + " the settings of StageServerConfiguration.serverProperties too");
    }
  }

  /** Refuses calls that did not arrive over TLS 1.3, when this stage speaks TLS. */
  static final class TlsSessionCheck implements ServerInterceptor {
    private final boolean required;

    TlsSessionCheck(boolean required) {
      this.required = required;
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(
        ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
      if (required) {
        SSLSession session = call.getAttributes().get(Grpc.TRANSPORT_ATTR_SSL_SESSION);
        String protocol = session == null ? "plaintext" : session.getProtocol();
        if (!TransportSecurity.PROTOCOL.equals(protocol)) {
          call.close(
              Status.UNAUTHENTICATED.withDescription(
                  "this stage requires " + TransportSecurity.PROTOCOL + ", got " + protocol),
              new Metadata());
          return new ServerCall.Listener<>() {};
        }
      }
      return next.startCall(call, headers);
    }
  }
}
