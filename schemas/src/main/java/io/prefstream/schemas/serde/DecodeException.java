package io.prefstream.schemas.serde;

import java.util.Objects;
import java.util.Optional;
import org.apache.kafka.common.errors.SerializationException;

/**
 * A message that could not be decoded, with the {@link Encoding} it was read as and the
 * {@link DecodeFailure} that stopped it. The message names the encoding, what was wrong and what was
 * expected, so it can go straight into a dead letter. It extends Kafka's
 * {@link SerializationException} so Kafka clients and Streams' deserialization handlers treat it as a
 * bad record.
 */
public final class DecodeException extends SerializationException {
  private static final long serialVersionUID = 1L;

  private final Encoding encoding;
  private final DecodeFailure reason;
  private final String eventId;

  public DecodeException(Encoding encoding, DecodeFailure reason, String what, String expected) {
    this(encoding, reason, what, expected, null, null);
  }

  public DecodeException(
      Encoding encoding, DecodeFailure reason, String what, String expected, String eventId, Throwable cause) {
    super(format(encoding, reason, what, expected), cause);
    this.encoding = Objects.requireNonNull(encoding, "encoding");
    this.reason = Objects.requireNonNull(reason, "reason");
    this.eventId = eventId;
  }

  private static String format(Encoding encoding, DecodeFailure reason, String what, String expected) {
    return encoding + " " + reason + ": " + what + (expected == null ? "" : "; expected " + expected);
  }

  public Encoding encoding() {
    return encoding;
  }

  public DecodeFailure reason() {
    return reason;
  }

  /** The event id, when the input parsed far enough to tell (JSON with an event_id). */
  public Optional<String> eventId() {
    return Optional.ofNullable(eventId);
  }
}
