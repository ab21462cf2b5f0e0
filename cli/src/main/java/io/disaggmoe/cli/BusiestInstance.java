package io.disaggmoe.cli;

import io.disaggmoe.proto.v1.AttentionServiceGrpc;
import io.disaggmoe.proto.v1.GetStatusRequest;
import io.disaggmoe.proto.wire.StageChannels;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Which attention instance of a role runs the most requests, by each one's {@code GetStatus}: the
 * chaos suite's kill of a decode instance strikes that one, since routing may leave another without
 * any stream. Its channels are opened and used once before the load, so that asking at the fault
 * takes one round trip per instance and the fault comes when it is due.
 */
final class BusiestInstance implements AutoCloseable {
  private final Map<String, ManagedChannel> channels = new LinkedHashMap<>();

  private BusiestInstance() {}

  static BusiestInstance of(LocalSuite suite, String role) {
    BusiestInstance b = new BusiestInstance();
    for (LocalSuite.Service x : suite.services()) {
      if (x.role().equals(role)) {
        b.channels.put(
            x.address(), StageChannels.plaintext().open(x.address(), StageChannels.Kind.CALLS));
      }
    }
    b.now(null);
    return b;
  }

  /**
   * The address of the instance running the most requests now; {@code fallback} when none runs any.
   */
  String now(String fallback) {
    String busiest = fallback;
    int most = 0;
    for (var c : channels.entrySet()) {
      int running = runningRequests(c.getValue());
      if (running > most) {
        most = running;
        busiest = c.getKey();
      }
    }
    return busiest;
  }

  /** The requests an instance runs now; 0 when it does not answer within a second. */
  private static int runningRequests(ManagedChannel channel) {
    try {
      return AttentionServiceGrpc.newBlockingStub(channel)
          .withDeadlineAfter(1, TimeUnit.SECONDS)
          .getStatus(GetStatusRequest.getDefaultInstance())
          .getRunningRequests();
    } catch (StatusRuntimeException e) {
      return 0;
    }
  }

  @Override
  public void close() {
    channels.values().forEach(ManagedChannel::shutdownNow);
  }
}
