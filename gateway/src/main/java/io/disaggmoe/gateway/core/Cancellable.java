package io.disaggmoe.gateway.core;

/** Stops work that is under way; calling it again, or after the work ended, does nothing. */
@FunctionalInterface
public interface Cancellable {
  void cancel();
}
