package io.disaggmoe.gateway.core;

import io.disaggmoe.proto.errors.Failures;

/** A call to a stage (prefill, decode, kv-cache) that failed, with what kind of failure it was. */
public final class StageException extends RuntimeException {
  /** How a failure is handled: retried elsewhere, passed to the client, or reported. */
  public enum Kind {
    /** The instance is down or unreachable: another instance may take the request. */
    UNAVAILABLE,
    /** The instance is full (queue, KV budget): another instance may take it. */
    OVERLOADED,
    /** The request itself is wrong: the client gets a 400. */
    INVALID,
    /** The call ran past its time limit. */
    DEADLINE,
    /** Anything else: reported as a server error. */
    FAILED
  }

  private final Kind kind;
  private final String address;

  public StageException(Kind kind, String address, String message, Throwable cause) {
    super(address + ": " + message, cause);
    this.kind = kind;
    this.address = address;
  }

  public Kind kind() {
    return kind;
  }

  public String address() {
    return address;
  }

  /** Worth another instance: this one is down, full or too slow. */
  public boolean retryable() {
    return kind == Kind.UNAVAILABLE || kind == Kind.OVERLOADED || kind == Kind.DEADLINE;
  }

  /** The client-facing form. */
  public ApiException toApi() {
    return switch (kind) {
      case INVALID -> ApiException.badRequest(getMessage(), null);
      case UNAVAILABLE, OVERLOADED, DEADLINE -> ApiException.unavailable(getMessage(), 1);
      case FAILED -> ApiException.internal(getMessage());
    };
  }

  /** Unwraps completion wrappers to the stage failure inside, or wraps anything else. */
  public static StageException of(Throwable t) {
    Throwable c = Failures.unwrap(t);
    if (c instanceof StageException s) {
      return s;
    }
    return new StageException(Kind.FAILED, "gateway", String.valueOf(c.getMessage()), c);
  }
}
