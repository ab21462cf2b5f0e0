package io.disaggmoe.proto.errors;

import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

/** Helpers over failures as asynchronous code delivers them. */
public final class Failures {
  private Failures() {}

  /**
   * The failure itself, without the {@link CompletionException} or {@link ExecutionException}
   * layers that futures wrap it in (a dependent stage wraps once more per stage).
   */
  public static Throwable unwrap(Throwable t) {
    while ((t instanceof CompletionException || t instanceof ExecutionException)
        && t.getCause() != null) {
      t = t.getCause();
    }
    return t;
  }
}
