package io.disaggmoe.gateway.core;

import io.disaggmoe.proto.errors.Failures;

/**
 * A request the gateway refuses or cannot serve, with what an OpenAI client needs to see: the HTTP
 * status, the error's type, the parameter at fault and a code. The HTTP layer turns it into
 * OpenAI's error envelope, the gRPC layer into a status.
 */
public final class ApiException extends RuntimeException {
  private final int httpStatus;
  private final String type;
  private final String param;
  private final String code;
  private final long retryAfterSeconds;
  private final boolean shouldRetry;

  private ApiException(
      int httpStatus,
      String type,
      String message,
      String param,
      String code,
      long retryAfterSeconds,
      boolean shouldRetry) {
    super(message);
    this.httpStatus = httpStatus;
    this.type = type;
    this.param = param;
    this.code = code;
    this.retryAfterSeconds = retryAfterSeconds;
    this.shouldRetry = shouldRetry;
  }

  /** The same refusal told in another API's terms: its parameter and message renamed. */
  public ApiException renamed(String param, String message) {
    return new ApiException(httpStatus, type, message, param, code, retryAfterSeconds, shouldRetry);
  }

  public static ApiException badRequest(String message, String param) {
    return new ApiException(400, "invalid_request_error", message, param, null, 0, true);
  }

  /** A client error with another 4xx status (405, 415). */
  public static ApiException badRequestWithStatus(int status, String message) {
    return new ApiException(status, "invalid_request_error", message, null, null, 0, true);
  }

  public static ApiException unauthorized(String message) {
    return new ApiException(
        401, "invalid_request_error", message, null, "invalid_api_key", 0, true);
  }

  public static ApiException notFound(String message, String param, String code) {
    return new ApiException(404, "invalid_request_error", message, param, code, 0, true);
  }

  public static ApiException tooLarge(String message) {
    return new ApiException(
        413, "invalid_request_error", message, null, "request_too_large", 0, true);
  }

  /** 429; {@code retryable} false when a quota is spent rather than a rate passed. */
  public static ApiException rateLimited(
      String message, long retryAfterSeconds, boolean retryable) {
    return new ApiException(
        429, "requests", message, null, "rate_limit_exceeded", retryAfterSeconds, retryable);
  }

  public static ApiException unavailable(String message, long retryAfterSeconds) {
    return new ApiException(
        503, "service_unavailable", message, null, "service_unavailable", retryAfterSeconds, true);
  }

  public static ApiException internal(String message) {
    return new ApiException(500, "server_error", message, null, null, 0, true);
  }

  /**
   * What a failure means to the client: itself when it is one, a stage's failure in its client
   * form, anything else a 500; completion wrappers are looked through.
   */
  public static ApiException of(Throwable t) {
    Throwable c = Failures.unwrap(t);
    return switch (c) {
      case ApiException a -> a;
      case StageException s -> s.toApi();
      default -> internal(String.valueOf(c.getMessage()));
    };
  }

  public int httpStatus() {
    return httpStatus;
  }

  public String type() {
    return type;
  }

  /** The request field at fault, or null. */
  public String param() {
    return param;
  }

  /** A machine-readable code, or null. */
  public String code() {
    return code;
  }

  /** Seconds a client should wait before retrying; 0 when the header is not sent. */
  public long retryAfterSeconds() {
    return retryAfterSeconds;
  }

  public boolean shouldRetry() {
    return shouldRetry;
  }
}
