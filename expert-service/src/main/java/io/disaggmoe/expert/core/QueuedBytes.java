package io.disaggmoe.expert.core;

/**
 * The memory that accepted, unfinished dispatches hold in a pool (their copied hidden rows and
 * their slots' outputs), against a limit. Transport threads hand a dispatch over and read the next
 * at once, so without a limit a flood of dispatches would grow the heap until the pool died.
 */
final class QueuedBytes {
  private final long limit;
  private final String pool;
  private long held;

  QueuedBytes(long limit, String pool) {
    if (limit < 1) {
      throw new IllegalArgumentException("the queued-bytes limit must be >= 1, got " + limit);
    }
    this.limit = limit;
    this.pool = pool;
  }

  /**
   * Takes {@code bytes} or refuses with {@link ExpertPoolBusyException}. A dispatch larger than the
   * whole limit still runs when nothing else is queued, so that it is slow rather than refused
   * forever; one that holds nothing always passes, even behind such a dispatch.
   */
  synchronized void reserve(long bytes) {
    if (bytes > 0 && held > 0 && held + bytes > limit) {
      throw new ExpertPoolBusyException(
          pool
              + " has "
              + held
              + " bytes of dispatches queued; this one needs "
              + bytes
              + " more, over its limit of "
              + limit
              + " (disaggmoe.expert.max-queued)");
    }
    held += bytes;
  }

  synchronized void release(long bytes) {
    held -= bytes;
  }

  synchronized long held() {
    return held;
  }
}
