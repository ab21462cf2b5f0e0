package io.disaggmoe.cli;

/** Sends one benchmark request and waits for its last token. */
interface LoadSender extends AutoCloseable {
  RequestTiming send(int[] promptIds, int outputTokens);

  @Override
  default void close() {}
}
