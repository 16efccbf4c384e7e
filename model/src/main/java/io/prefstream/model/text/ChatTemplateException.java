package io.prefstream.model.text;

/** A chat template refused a conversation ({@code raise_exception}) or could not be rendered. */
public final class ChatTemplateException extends IllegalArgumentException {
  public ChatTemplateException(String message, Throwable cause) {
    super(message, cause);
  }
}
