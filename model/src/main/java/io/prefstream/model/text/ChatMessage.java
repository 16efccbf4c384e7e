package io.prefstream.model.text;

import java.util.Objects;

/**
 * One turn of a conversation as TRL and Hugging Face chat templates see it: {@code {"role": …,
 * "content": …}}. The role is passed to the template as written (the template decides which roles it
 * accepts); content is plain text.
 */
public record ChatMessage(String role, String content) {
  public ChatMessage {
    Objects.requireNonNull(role, "role");
    Objects.requireNonNull(content, "content");
    if (role.isBlank()) throw new IllegalArgumentException("a message's role is empty");
  }

  public static ChatMessage user(String content) {
    return new ChatMessage("user", content);
  }

  public static ChatMessage assistant(String content) {
    return new ChatMessage("assistant", content);
  }
}
