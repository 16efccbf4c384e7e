package io.prefstream.schemas.serde;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import io.prefstream.schemas.avro.ChatMessage;
import io.prefstream.schemas.avro.Comparison;
import io.prefstream.schemas.avro.PreferenceEvent;
import io.prefstream.schemas.avro.Rating;
import io.prefstream.schemas.avro.Thumb;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.DateTimeException;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import org.apache.kafka.common.errors.SerializationException;

/**
 * The JSON form of a {@link PreferenceEvent} (documented in the README):
 *
 * <pre>{@code
 * {"event_id": "e-1", "policy_id": "default", "policy_version": 3,
 *  "timestamp": "2026-11-26T10:00:00Z",          // or epoch millis: 1795687200000
 *  "user_id": "u1", "prompt": "Write a haiku",
 *  "feedback": {"thumb": {"response": "...", "rating": "UP"}},
 *           // or {"comparison": {"chosen": "...", "rejected": "..."}}
 *  "attributes": {"surface": "web"},
 *  "prompt_messages": [{"role": "user", "content": "Write a haiku"}]}   // a chat's conversation, optional
 * }</pre>
 *
 * Required: {@code event_id}, {@code timestamp}, {@code prompt}, {@code feedback} with exactly one of
 * {@code thumb} or {@code comparison}. Optional: {@code policy_id} (default {@code "default"}),
 * {@code policy_version}, {@code user_id}, {@code attributes}, {@code prompt_messages} (a list of
 * {@code {role, content}} objects, both strings, no other keys; {@code prompt} then holds its rendered
 * text); null means absent. A missing timestamp is
 * an error rather than "now", so that replaying a topic decodes to the same events. Unknown top-level
 * fields are ignored (newer producers may send fields a later schema adds); unknown keys inside
 * {@code feedback} are an error, since they would change what the feedback means. Content rules
 * (blank text, lengths) are the ingest's, not the decoder's.
 */
public final class PreferenceEventJson {
  private PreferenceEventJson() {}

  private static final JsonFactory FACTORY = JsonFactory.builder()
      .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
      .build();
  private static final ObjectReader READER = new ObjectMapper(FACTORY)
      .reader()
      .with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

  /** Decodes a UTF-8 JSON event; failures are {@link DecodeException}s with encoding {@link Encoding#JSON}. */
  public static PreferenceEvent read(byte[] bytes) {
    if (bytes == null || bytes.length == 0) {
      throw new DecodeException(Encoding.JSON, DecodeFailure.EMPTY, "no bytes", "a JSON object");
    }
    return read(bytes, 0, bytes.length);
  }

  static PreferenceEvent read(byte[] bytes, int offset, int length) {
    JsonNode root;
    try {
      root = READER.readTree(bytes, offset, length);
    } catch (JsonProcessingException e) {
      throw new DecodeException(Encoding.JSON, DecodeFailure.INVALID_JSON,
          "the text does not parse: " + e.getOriginalMessage() + location(e), "one well-formed JSON object", null, e);
    } catch (IOException e) {
      throw new DecodeException(Encoding.JSON, DecodeFailure.INVALID_JSON,
          "the text does not parse: " + e.getMessage(), "one well-formed JSON object", null, e);
    }
    if (root == null || !root.isObject()) {
      throw new DecodeException(Encoding.JSON, DecodeFailure.INVALID_JSON,
          "the top level is " + (root == null ? "empty" : root.getNodeType().toString().toLowerCase(Locale.ROOT)),
          "a JSON object");
    }
    return new Fields(root).event();
  }

  private static String location(JsonProcessingException e) {
    var loc = e.getLocation();
    return loc == null ? "" : " (line " + loc.getLineNr() + ", column " + loc.getColumnNr() + ")";
  }

  /** Reads the fields of one event object, remembering the event id for the errors after it. */
  private static final class Fields {
    private final JsonNode root;
    private String eventId;

    Fields(JsonNode root) {
      this.root = root;
    }

    PreferenceEvent event() {
      eventId = requiredText(root, "event_id", "event_id");
      PreferenceEvent.Builder b = PreferenceEvent.newBuilder()
          .setEventId(eventId)
          .setPolicyId(optionalText(root, "policy_id", "policy_id", "default"))
          .setPolicyVersion(optionalLong(root, "policy_version"))
          .setTimestamp(timestamp(root))
          .setUserId(optionalText(root, "user_id", "user_id", null))
          .setPrompt(requiredText(root, "prompt", "prompt"))
          .setFeedback(feedback(root))
          .setAttributes(attributes(root))
          .setPromptMessages(messages(root));
      return b.build();
    }

    private Object feedback(JsonNode parent) {
      JsonNode f = present(parent, "feedback");
      if (f == null) {
        throw missing("feedback", "{\"thumb\": {...}} or {\"comparison\": {...}}");
      }
      if (!f.isObject() || f.size() != 1) {
        throw invalid("feedback", "is " + describe(f), "an object with exactly one key, \"thumb\" or \"comparison\"");
      }
      Map.Entry<String, JsonNode> kind = f.properties().iterator().next();
      JsonNode body = kind.getValue();
      String path = "feedback." + kind.getKey();
      if (!body.isObject()) throw invalid(path, "is " + describe(body), "an object");
      return switch (kind.getKey()) {
        case "thumb" -> {
          onlyKeys(body, path, "response", "rating");
          yield new Thumb(requiredText(body, "response", path + ".response"), rating(body, path + ".rating"));
        }
        case "comparison" -> {
          onlyKeys(body, path, "chosen", "rejected");
          yield new Comparison(requiredText(body, "chosen", path + ".chosen"), requiredText(body, "rejected", path + ".rejected"));
        }
        default -> throw invalid("feedback", "has the unknown kind \"" + kind.getKey() + "\"", "\"thumb\" or \"comparison\"");
      };
    }

    private Rating rating(JsonNode thumb, String path) {
      JsonNode r = present(thumb, "rating");
      if (r == null) throw missing(path, "\"UP\" or \"DOWN\"");
      if (r.isTextual()) {
        switch (r.asText().toUpperCase(Locale.ROOT)) {
          case "UP" -> { return Rating.UP; }
          case "DOWN" -> { return Rating.DOWN; }
          default -> { }
        }
      }
      throw invalid(path, "is " + describe(r), "\"UP\" or \"DOWN\"");
    }

    private void onlyKeys(JsonNode obj, String path, String... allowed) {
      for (Iterator<String> it = obj.fieldNames(); it.hasNext(); ) {
        String name = it.next();
        boolean known = false;
        for (String a : allowed) known |= a.equals(name);
        if (!known) throw invalid(path, "has the unknown key \"" + name + "\"", "only " + String.join(", ", allowed));
      }
    }

    private Instant timestamp(JsonNode parent) {
      JsonNode t = present(parent, "timestamp");
      String expected = "an ISO-8601 instant such as \"2026-11-26T10:00:00Z\" or epoch milliseconds";
      if (t == null) throw missing("timestamp", expected);
      try {
        if (t.isIntegralNumber() && t.canConvertToLong()) return Instant.ofEpochMilli(t.longValue());
        if (t.isTextual()) {
          Instant i = Instant.parse(t.asText()).truncatedTo(ChronoUnit.MILLIS);
          i.toEpochMilli(); // the Avro field is epoch millis: reject instants it cannot hold
          return i;
        }
      } catch (DateTimeException | ArithmeticException e) {
        throw invalid("timestamp", "is " + describe(t) + " (" + e.getMessage() + ")", expected);
      }
      throw invalid("timestamp", "is " + describe(t), expected);
    }

    private Long optionalLong(JsonNode parent, String name) {
      JsonNode v = present(parent, name);
      if (v == null) return null;
      if (v.isIntegralNumber() && v.canConvertToLong()) return v.longValue();
      throw invalid(name, "is " + describe(v), "an integer or null");
    }

    private List<ChatMessage> messages(JsonNode parent) {
      JsonNode m = present(parent, "prompt_messages");
      if (m == null) return null;
      if (!m.isArray()) throw invalid("prompt_messages", "is " + describe(m), "an array of {\"role\", \"content\"} objects or null");
      List<ChatMessage> out = new ArrayList<>(m.size());
      for (int i = 0; i < m.size(); i++) {
        String path = "prompt_messages[" + i + "]";
        JsonNode message = m.get(i);
        if (!message.isObject()) throw invalid(path, "is " + describe(message), "an object {\"role\", \"content\"}");
        // A key we do not carry (name, tool_calls, …) would change what the template renders: refuse it.
        onlyKeys(message, path, "role", "content");
        out.add(new ChatMessage(requiredText(message, "role", path + ".role"), requiredText(message, "content", path + ".content")));
      }
      return out;
    }

    private Map<String, String> attributes(JsonNode parent) {
      JsonNode a = present(parent, "attributes");
      Map<String, String> out = new LinkedHashMap<>();
      if (a == null) return out;
      if (!a.isObject()) throw invalid("attributes", "is " + describe(a), "an object of string values");
      for (Map.Entry<String, JsonNode> e : a.properties()) {
        JsonNode v = e.getValue();
        // Numbers and booleans are taken as their text: harmless, and apps often send {"bucket": 3}.
        if (!v.isValueNode() || v.isNull()) {
          throw invalid("attributes." + e.getKey(), "is " + describe(v), "a string, number or boolean");
        }
        out.put(e.getKey(), v.asText());
      }
      return out;
    }

    private String requiredText(JsonNode parent, String name, String path) {
      JsonNode v = present(parent, name);
      if (v == null) throw missing(path, "a string");
      if (!v.isTextual()) throw invalid(path, "is " + describe(v), "a string");
      return v.asText();
    }

    private String optionalText(JsonNode parent, String name, String path, String absent) {
      JsonNode v = present(parent, name);
      if (v == null) return absent;
      if (!v.isTextual()) throw invalid(path, "is " + describe(v), "a string or null");
      return v.asText();
    }

    /** The field, or null when it is absent or JSON null. */
    private static JsonNode present(JsonNode parent, String name) {
      JsonNode v = parent.get(name);
      return v == null || v.isNull() ? null : v;
    }

    private DecodeException missing(String path, String expected) {
      return new DecodeException(Encoding.JSON, DecodeFailure.MISSING_FIELD,
          "required field \"" + path + "\" is missing" + forEvent(), expected, eventId, null);
    }

    private DecodeException invalid(String path, String what, String expected) {
      return new DecodeException(Encoding.JSON, DecodeFailure.INVALID_FIELD,
          "field \"" + path + "\" " + what + forEvent(), expected, eventId, null);
    }

    private String forEvent() {
      return eventId == null ? "" : " (event_id " + eventId + ")";
    }

    private static String describe(JsonNode v) {
      String type = v.getNodeType().toString().toLowerCase(Locale.ROOT);
      String text = v.toString();
      return "the " + type + " " + (text.length() > 60 ? text.substring(0, 60) + "…" : text);
    }
  }

  /** The event as UTF-8 JSON in the shape above (timestamp as an ISO-8601 string, absent optionals left out). */
  public static byte[] write(PreferenceEvent event) {
    Objects.requireNonNull(event, "event");
    requireComplete(event);
    ByteArrayOutputStream out = new ByteArrayOutputStream(256);
    try (JsonGenerator g = FACTORY.createGenerator(out)) {
      g.writeStartObject();
      g.writeStringField("event_id", event.getEventId());
      g.writeStringField("policy_id", event.getPolicyId());
      if (event.getPolicyVersion() != null) g.writeNumberField("policy_version", event.getPolicyVersion());
      g.writeStringField("timestamp", event.getTimestamp().toString());
      if (event.getUserId() != null) g.writeStringField("user_id", event.getUserId());
      g.writeStringField("prompt", event.getPrompt());
      g.writeObjectFieldStart("feedback");
      switch (event.getFeedback()) {
        case Thumb t -> {
          g.writeObjectFieldStart("thumb");
          g.writeStringField("response", t.getResponse());
          g.writeStringField("rating", t.getRating().name());
          g.writeEndObject();
        }
        case Comparison c -> {
          g.writeObjectFieldStart("comparison");
          g.writeStringField("chosen", c.getChosen());
          g.writeStringField("rejected", c.getRejected());
          g.writeEndObject();
        }
        default -> throw new IllegalStateException("feedback was checked to be a Thumb or a Comparison");
      }
      g.writeEndObject();
      g.writeObjectFieldStart("attributes");
      if (event.getAttributes() != null) {
        for (Map.Entry<String, String> e : event.getAttributes().entrySet()) g.writeStringField(e.getKey(), e.getValue());
      }
      g.writeEndObject();
      if (event.getPromptMessages() != null) {
        g.writeArrayFieldStart("prompt_messages");
        for (ChatMessage m : event.getPromptMessages()) {
          g.writeStartObject();
          g.writeStringField("role", m.getRole());
          g.writeStringField("content", m.getContent());
          g.writeEndObject();
        }
        g.writeEndArray();
      }
      g.writeEndObject();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  /** The writer's counterpart of the reader's required fields: never write JSON the reader would reject. */
  private static void requireComplete(PreferenceEvent e) {
    String missing = e.getEventId() == null ? "event_id"
        : e.getPolicyId() == null ? "policy_id"
        : e.getTimestamp() == null ? "timestamp"
        : e.getPrompt() == null ? "prompt"
        : switch (e.getFeedback()) {
          case Thumb t -> t.getResponse() == null ? "feedback.thumb.response" : t.getRating() == null ? "feedback.thumb.rating" : null;
          case Comparison c -> c.getChosen() == null ? "feedback.comparison.chosen"
              : c.getRejected() == null ? "feedback.comparison.rejected" : null;
          case null -> "feedback";
          default -> "feedback (a " + e.getFeedback().getClass().getName() + ", expected a Thumb or a Comparison)";
        };
    List<ChatMessage> messages = e.getPromptMessages();
    for (int i = 0; missing == null && messages != null && i < messages.size(); i++) {
      ChatMessage m = messages.get(i);
      missing = m == null ? "prompt_messages[" + i + "]"
          : m.getRole() == null ? "prompt_messages[" + i + "].role"
          : m.getContent() == null ? "prompt_messages[" + i + "].content" : null;
    }
    if (missing != null) {
      throw new SerializationException("cannot write PreferenceEvent " + e.getEventId() + " as JSON: " + missing
          + " is missing; expected every required field set");
    }
  }
}
