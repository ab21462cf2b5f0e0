package io.disaggmoe.model.cache;

/** A cache needed a page and its pool had none left: admission let too much in. */
public final class LatentPagesExhaustedException extends IllegalStateException {
  public LatentPagesExhaustedException(String message) {
    super(message);
  }
}
