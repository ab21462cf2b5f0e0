package io.disaggmoe.tests;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code disaggmoe up --processes} stopped before it is ready leaves no service running: Ctrl-C
 * (SIGTERM here) during a slow start, or the launcher killed outright. Before, the services that
 * had started kept running, holding their ports, until killed by hand.
 */
class UpStopsItsProcessesTest {
  // The plane, the kv-cache service and up's two pools: started, the attention ones on the way.
  private static final int CHILDREN = 4;

  @TempDir Path work;

  @Test
  void sigtermWhileStartingStopsEveryServiceItStarted() throws Exception {
    Process up = startUp();
    List<ProcessHandle> children = awaitChildren(up);
    up.destroy();
    assertThat(up.waitFor(60, TimeUnit.SECONDS)).as("up exits after SIGTERM").isTrue();
    assertAllEnd(children, "after up got SIGTERM");
  }

  @Test
  void sigkillOfUpEndsEveryServiceItStarted() throws Exception {
    Process up = startUp();
    List<ProcessHandle> children = awaitChildren(up);
    up.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
    assertAllEnd(children, "after up was killed");
  }

  private Process startUp() throws Exception {
    return new ProcessBuilder(RunningSuite.upCommand(work))
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.DISCARD)
        .start();
  }

  /** The services up has started, once there are {@link #CHILDREN} of them. */
  private static List<ProcessHandle> awaitChildren(Process up) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
    List<ProcessHandle> children = up.children().toList();
    while (children.size() < CHILDREN && up.isAlive() && System.nanoTime() < deadline) {
      Thread.sleep(100);
      children = up.children().toList();
    }
    assertThat(children).as("services up started").hasSizeGreaterThanOrEqualTo(CHILDREN);
    assertThat(up.isAlive()).as("up still starting, not yet failed").isTrue();
    return children;
  }

  private static void assertAllEnd(List<ProcessHandle> children, String when)
      throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    for (ProcessHandle child : children) {
      while (child.isAlive() && System.nanoTime() < deadline) {
        Thread.sleep(100);
      }
    }
    for (ProcessHandle child : children) {
      assertThat(child.isAlive())
          .as("service pid %d (%s) still running 60 s %s", child.pid(), describe(child), when)
          .isFalse();
      child.destroyForcibly();
    }
  }

  private static String describe(ProcessHandle p) {
    // The arguments after the main class: which service it is.
    return p.info()
        .commandLine()
        .map(c -> c.substring(Math.max(0, c.indexOf("Main "))))
        .orElse("?");
  }
}
