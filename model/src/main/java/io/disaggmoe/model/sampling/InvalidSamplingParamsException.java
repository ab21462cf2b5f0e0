package io.disaggmoe.model.sampling;

/** A sampling control is out of range; {@link #field} names it with its OpenAI API spelling. */
public final class InvalidSamplingParamsException extends IllegalArgumentException {
  private final String field;

  public InvalidSamplingParamsException(String field, String message) {
    super(message);
    this.field = field;
  }

  public String field() {
    return field;
  }
}
