package io.disaggmoe.cli;

import io.disaggmoe.proto.v1.AttentionServiceGrpc;
import io.disaggmoe.proto.v1.GetStatusRequest;
import io.disaggmoe.proto.wire.StageChannels;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Which of some attention instances runs the most requests, by each one's {@code GetStatus}: a kill
 * of a decode instance (the chaos suite's, the failover test's) strikes that one, since routing may
 * leave another without any stream. Its channels are opened and used once when it is made, before
 * the load, so that asking at the fault takes one round trip per instance and the fault comes when
 * it is due.
 */
public final class BusiestInstance implements AutoCloseable {
  private final Map<String, ManagedChannel> channels = new LinkedHashMap<>();

  private BusiestInstance() {}

  /** Over the attention instances at {@code addresses} (plaintext). */
  public static BusiestInstance of(Collection<String> addresses) {
    BusiestInstance b = new BusiestInstance();
    for (String address : addresses) {
      b.channels.put(address, StageChannels.plaintext().open(address, StageChannels.Kind.CALLS));
    }
    b.now(null);
    return b;
  }

  /**
   * The address of the instance running the most requests now; {@code fallback} when none runs any.
   */
  public String now(String fallback) {
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
