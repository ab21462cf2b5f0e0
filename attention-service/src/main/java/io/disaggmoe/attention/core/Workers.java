package io.disaggmoe.attention.core;

/** The engines' loop threads. */
final class Workers {
  private Workers() {}

  /** Interrupts a loop thread and waits for it, keeping the caller's interrupt status. */
  static void stop(Thread worker) {
    worker.interrupt();
    try {
      worker.join(10_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
