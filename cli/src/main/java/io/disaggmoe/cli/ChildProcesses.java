package io.disaggmoe.cli;

import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * The processes this JVM started ({@code serve} and {@code bench serve} children), which must not
 * outlive it. Commands stop their children in order when they finish, but a JVM stopped by a signal
 * unwinds no stack: Ctrl-C while {@code up --processes} was still starting, or during {@code chaos}
 * or {@code bench decode --expert-pools}, left every child running with its ports held. Two guards
 * cover the two ways the parent ends:
 *
 * <ul>
 *   <li>SIGTERM or SIGINT: a shutdown hook sends SIGTERM to every child still alive and waits for
 *       them (each shuts down cleanly), then kills what remains.
 *   <li>SIGKILL or a crash, where no hook runs: each child is started with {@link #parentFlag} and
 *       exits when that process does ({@link #exitWithParent}).
 * </ul>
 */
final class ChildProcesses {
  /** The system property naming the pid whose exit ends this process. */
  static final String PARENT_PID = "disaggmoe.parent-pid";

  // As ServiceProcess.close allows one child: time to stop cleanly, then time to die.
  private static final Duration STOP_GRACE = Duration.ofSeconds(20);
  private static final Duration KILL_GRACE = Duration.ofSeconds(10);

  private static final Set<Process> LIVE = ConcurrentHashMap.newKeySet();

  static {
    Runtime.getRuntime()
        .addShutdownHook(new Thread(ChildProcesses::stopAll, "stop-child-processes"));
  }

  private ChildProcesses() {}

  /** The JVM flag that ties a child to this process's life. */
  static String parentFlag() {
    return "-D" + PARENT_PID + "=" + ProcessHandle.current().pid();
  }

  /** Keeps {@code p} to be stopped with this JVM, until it exits by itself. */
  static Process register(Process p) {
    LIVE.add(p);
    p.onExit().thenRun(() -> LIVE.remove(p));
    return p;
  }

  private static void stopAll() {
    List<Process> children = List.copyOf(LIVE);
    children.forEach(Process::destroy);
    long deadline = System.nanoTime() + STOP_GRACE.toNanos();
    for (Process p : children) {
      try {
        if (!p.waitFor(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
          p.destroyForcibly().waitFor(KILL_GRACE.toSeconds(), TimeUnit.SECONDS);
        }
      } catch (InterruptedException e) {
        p.destroyForcibly();
        Thread.currentThread().interrupt();
      }
    }
  }

  /**
   * In a child started with {@link #parentFlag}: exits, running its own shutdown (a service's
   * graceful stop), as soon as the process that started it has ended.
   */
  static void exitWithParent() {
    String pid = System.getProperty(PARENT_PID);
    if (pid == null) {
      return;
    }
    long parent = Long.parseLong(pid);
    ProcessHandle.of(parent)
        .map(ProcessHandle::onExit)
        .ifPresentOrElse(exit -> exit.thenRun(() -> parentGone(parent)), () -> parentGone(parent));
  }

  private static void parentGone(long parent) {
    System.err.println(
        "disaggmoe: the process that started this one (pid " + parent + ") has ended; stopping");
    // Not from the thread that completes onExit's future: System.exit blocks until shutdown ends.
    Thread.ofPlatform().name("exit-with-parent").start(() -> System.exit(1));
  }
}
