package io.disaggmoe.expert.core;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Lowers the scheduling priority of the calling thread, and of the threads it starts afterwards
 * (Linux threads inherit their creator's nice value, OpenMP workers included).
 *
 * <p>Why: where a pool shares cores with an attention process, the attention work is what the next
 * dispatches wait on; at equal priority the pool's passes slow the other micro-batch's attention,
 * so its dispatch reaches the pool after most passes it could have joined are made. Java has no
 * call for a thread's nice value, so {@code renice} (util-linux) sets it by thread id.
 */
final class ThreadNiceness {
  private static final Logger log = LoggerFactory.getLogger(ThreadNiceness.class);

  private ThreadNiceness() {}

  /** Adds {@code increment} (1..19) to this thread's nice value; logs and goes on if it cannot. */
  static void lowerCurrentThread(int increment) {
    if (increment == 0) {
      return;
    }
    if (increment < 0 || increment > 19) {
      throw new IllegalArgumentException("compute niceness must be in 0..19, got " + increment);
    }
    try {
      // "/proc/thread-self" links to "<pid>/task/<tid>".
      Path self = Files.readSymbolicLink(Path.of("/proc/thread-self"));
      String tid = self.getFileName().toString();
      Process renice =
          new ProcessBuilder("renice", "-n", String.valueOf(increment), "-p", tid)
              .redirectErrorStream(true)
              .start();
      String said = new String(renice.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (renice.waitFor() != 0) {
        log.warn("could not lower the compute thread's priority: renice said {}", said.strip());
      }
    } catch (IOException | UnsupportedOperationException e) {
      log.warn("could not lower the compute thread's priority: {}", e.toString());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
