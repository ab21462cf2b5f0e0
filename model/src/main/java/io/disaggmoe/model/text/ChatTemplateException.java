package io.disaggmoe.model.text;

/** The chat template could not turn these messages into a prompt; the message says why. */
public final class ChatTemplateException extends RuntimeException {
  public ChatTemplateException(String message) {
    super(message);
  }

  public ChatTemplateException(String message, Throwable cause) {
    super(message, cause);
  }
}
