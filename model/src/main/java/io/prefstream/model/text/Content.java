package io.prefstream.model.text;

import java.util.List;
import java.util.Objects;

/**
 * A prompt or a completion as a TRL data set holds it: plain text (TRL's "standard" format) or a list
 * of messages (its "conversational" format, rendered with the model's chat template).
 */
public sealed interface Content {
  /** Standard format: the text is tokenized as it stands. */
  record Text(String text) implements Content {
    public Text {
      Objects.requireNonNull(text, "text");
    }
  }

  /** Conversational format: messages rendered by the model's chat template. */
  record Messages(List<ChatMessage> messages) implements Content {
    public Messages {
      messages = List.copyOf(messages);
      if (messages.isEmpty()) throw new IllegalArgumentException("a conversation needs at least one message");
    }
  }

  static Content text(String text) {
    return new Text(text);
  }

  static Content messages(List<ChatMessage> messages) {
    return new Messages(messages);
  }

  /** The same kind of content as text, for messages: one line per turn ("role: content"); for logs. */
  default String describe() {
    return switch (this) {
      case Text t -> t.text();
      case Messages m -> String.join("\n", m.messages().stream().map(x -> x.role() + ": " + x.content()).toList());
    };
  }
}
