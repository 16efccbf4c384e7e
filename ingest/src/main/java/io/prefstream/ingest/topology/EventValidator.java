package io.prefstream.ingest.topology;

import io.prefstream.ingest.config.IngestConfig;
import io.prefstream.schemas.avro.ChatMessage;
import io.prefstream.schemas.avro.Comparison;
import io.prefstream.schemas.avro.DeadLetterReason;
import io.prefstream.schemas.avro.PreferenceEvent;
import io.prefstream.schemas.avro.Thumb;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The content rules a decoded event must pass before it may reach training (the decoder has
 * already checked shape and types): an event id, a policy id matching the configured pattern, a
 * non-blank prompt and response(s) within the size limits, a chat conversation ({@code prompt_messages},
 * when present) of at least one message, each with a non-blank role, whose contents together stay
 * within the prompt limit, a comparison whose chosen and rejected texts differ, and a timestamp not
 * beyond the configured clock skew into the future. Rules are checked in that order and the first
 * failure is reported. Stateless and thread-safe.
 */
public final class EventValidator {
  /** Why an event was refused: the dead-letter reason and a message naming the field. */
  public record Violation(DeadLetterReason reason, String message) {}

  private final Pattern policyId;
  private final int maxPromptChars;
  private final int maxResponseChars;
  private final long futureSkewMs;

  public EventValidator(IngestConfig config) {
    this.policyId = config.policyIdRegex();
    this.maxPromptChars = config.maxPromptChars();
    this.maxResponseChars = config.maxResponseChars();
    this.futureSkewMs = config.futureSkew().toMillis();
  }

  /** The first rule {@code event} breaks, judged at wall-clock time {@code nowMs}; empty when valid. */
  public Optional<Violation> check(PreferenceEvent event, long nowMs) {
    if (event.getEventId() == null || event.getEventId().isBlank()) {
      return violation(DeadLetterReason.MISSING_FIELD, "event_id is blank; expected a non-blank idempotency key");
    }
    String policy = event.getPolicyId();
    if (policy == null || !policyId.matcher(policy).matches()) {
      return violation(DeadLetterReason.BAD_POLICY_ID, "policy_id \"" + abbreviate(policy)
          + "\" does not match " + policyId.pattern());
    }
    Optional<Violation> prompt = text("prompt", event.getPrompt(), maxPromptChars);
    if (prompt.isPresent()) return prompt;
    Optional<Violation> messages = messages(event.getPromptMessages());
    if (messages.isPresent()) return messages;
    Optional<Violation> feedback = switch (event.getFeedback()) {
      case Thumb t -> text("feedback.thumb.response", t.getResponse(), maxResponseChars);
      case Comparison c -> comparison(c);
      case null -> violation(DeadLetterReason.MISSING_FIELD, "feedback is missing; expected a thumb or a comparison");
      default -> violation(DeadLetterReason.OTHER, "feedback is a " + event.getFeedback().getClass().getSimpleName()
          + "; expected a thumb or a comparison");
    };
    if (feedback.isPresent()) return feedback;
    Instant timestamp = event.getTimestamp();
    if (timestamp == null) return violation(DeadLetterReason.MISSING_FIELD, "timestamp is missing");
    if (timestamp.toEpochMilli() > nowMs + futureSkewMs) {
      return violation(DeadLetterReason.FUTURE_TIMESTAMP, "timestamp " + timestamp + " lies "
          + (timestamp.toEpochMilli() - nowMs) + " ms after the ingest's clock (" + Instant.ofEpochMilli(nowMs)
          + "); at most " + futureSkewMs + " ms of clock skew is accepted");
    }
    return Optional.empty();
  }

  /** The conversation's own rules; its rendered text, {@code prompt}, was checked already. */
  private Optional<Violation> messages(List<ChatMessage> messages) {
    if (messages == null) return Optional.empty();
    if (messages.isEmpty()) {
      return violation(DeadLetterReason.MISSING_FIELD, "prompt_messages is an empty list; expected at least one message,"
          + " or null for a text prompt");
    }
    long chars = 0;
    for (int i = 0; i < messages.size(); i++) {
      ChatMessage m = messages.get(i);
      if (m.getRole() == null || m.getRole().isBlank()) {
        return violation(DeadLetterReason.BLANK_TEXT, "prompt_messages[" + i + "].role is blank; expected a role such as"
            + " \"user\"");
      }
      if (m.getContent() == null) return violation(DeadLetterReason.MISSING_FIELD, "prompt_messages[" + i + "].content is missing");
      chars += m.getContent().length();
    }
    // The template adds text around the contents, so they alone must already fit the prompt's limit.
    if (chars > maxPromptChars) {
      long codePoints = messages.stream().mapToLong(m -> m.getContent().codePointCount(0, m.getContent().length())).sum();
      if (codePoints > maxPromptChars) {
        return violation(DeadLetterReason.TOO_LONG, "prompt_messages have " + codePoints + " characters of content; at most "
            + maxPromptChars + " are accepted");
      }
    }
    return Optional.empty();
  }

  private Optional<Violation> comparison(Comparison c) {
    Optional<Violation> chosen = text("feedback.comparison.chosen", c.getChosen(), maxResponseChars);
    if (chosen.isPresent()) return chosen;
    Optional<Violation> rejected = text("feedback.comparison.rejected", c.getRejected(), maxResponseChars);
    if (rejected.isPresent()) return rejected;
    // Surrounding whitespace carries no preference: "A" vs "A\n" teaches nothing.
    if (c.getChosen().strip().equals(c.getRejected().strip())) {
      return violation(DeadLetterReason.SAME_CHOSEN_REJECTED,
          "feedback.comparison: chosen and rejected are the same text; expected two different responses");
    }
    return Optional.empty();
  }

  private static Optional<Violation> text(String field, String value, int maxChars) {
    if (value == null) return violation(DeadLetterReason.MISSING_FIELD, field + " is missing");
    if (value.isBlank()) return violation(DeadLetterReason.BLANK_TEXT, field + " is blank; expected text");
    // length() >= code points, so the exact count is only needed near the limit.
    if (value.length() > maxChars) {
      int codePoints = value.codePointCount(0, value.length());
      if (codePoints > maxChars) {
        return violation(DeadLetterReason.TOO_LONG, field + " has " + codePoints + " characters; at most "
            + maxChars + " are accepted");
      }
    }
    return Optional.empty();
  }

  private static Optional<Violation> violation(DeadLetterReason reason, String message) {
    return Optional.of(new Violation(reason, message));
  }

  private static String abbreviate(String s) {
    if (s == null) return "null";
    return s.length() <= 80 ? s : s.substring(0, 80) + "…";
  }
}
