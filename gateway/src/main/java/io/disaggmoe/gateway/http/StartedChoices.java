package io.disaggmoe.gateway.http;

import io.disaggmoe.gateway.core.Cancellable;
import java.util.ArrayList;
import java.util.List;

/**
 * The choices one reply has started. Once the reply ends early, every choice is cancelled, those
 * started afterwards as they start: a reply's choices start on a parsing thread while its client's
 * disconnect arrives on an event loop, and a choice that started just after the cancellation kept
 * decoding 4,000 tokens for nobody.
 */
final class StartedChoices {
  private final List<Cancellable> started = new ArrayList<>();
  private boolean cancelled;

  void add(Cancellable choice) {
    synchronized (this) {
      if (!cancelled) {
        started.add(choice);
        return;
      }
    }
    choice.cancel();
  }

  /** Cancels every choice started and every one that starts from now on. */
  void cancelAll() {
    List<Cancellable> all;
    synchronized (this) {
      cancelled = true;
      all = List.copyOf(started);
    }
    all.forEach(Cancellable::cancel);
  }
}
