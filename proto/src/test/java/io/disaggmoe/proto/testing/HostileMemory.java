package io.disaggmoe.proto.testing;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;

/**
 * Heap and direct memory in use, taken after collecting garbage, before and after a fuzz run: what
 * the run leaves behind must stay under a slack that covers JIT and pool warm-up.
 */
public record HostileMemory(long heapBytes, long directBytes) {
  private static final long SLACK_BYTES = 64L << 20;

  public static HostileMemory now() throws InterruptedException {
    for (int i = 0; i < 3; i++) {
      System.gc();
      Thread.sleep(50);
    }
    long direct = 0;
    for (BufferPoolMXBean b : ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)) {
      direct += b.getMemoryUsed();
    }
    return new HostileMemory(
        ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed(), direct);
  }

  /** Fails if heap or direct memory grew by more than the slack since this was taken. */
  public void assertFlat(String service) throws InterruptedException {
    HostileMemory after = now();
    System.out.printf(
        "fuzz %s: heap %d -> %d bytes, direct %d -> %d bytes%n",
        service, heapBytes, after.heapBytes, directBytes, after.directBytes);
    assertThat(after.heapBytes - heapBytes).as("heap growth over the run").isLessThan(SLACK_BYTES);
    assertThat(after.directBytes - directBytes)
        .as("direct memory growth over the run")
        .isLessThan(SLACK_BYTES);
  }
}
