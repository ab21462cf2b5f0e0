package io.disaggmoe.proto.testing;

import io.grpc.BindableService;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import java.io.IOException;
import java.util.concurrent.TimeUnit;

/**
 * A service under attack as the fuzz suites serve it: on an in-process transport, with the health
 * service beside it (which {@link HostileCalls#assertServing} asks), and a channel to both.
 */
public record InProcessService(Server server, ManagedChannel channel) implements AutoCloseable {
  public static InProcessService start(BindableService service) throws IOException {
    String name = InProcessServerBuilder.generateName();
    Server server =
        InProcessServerBuilder.forName(name)
            .addService(service)
            .addService(new HealthStatusManager().getHealthService())
            .build()
            .start();
    return new InProcessService(server, InProcessChannelBuilder.forName(name).build());
  }

  @Override
  public void close() throws InterruptedException {
    channel.shutdownNow();
    server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }
}
