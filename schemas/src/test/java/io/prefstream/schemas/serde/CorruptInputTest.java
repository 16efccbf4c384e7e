package io.prefstream.schemas.serde;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.prefstream.schemas.avro.MicroBatch;
import io.prefstream.schemas.avro.PolicyUpdate;
import io.prefstream.schemas.avro.PreferenceEvent;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.apache.kafka.common.serialization.Serde;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Bad bytes of every kind give a {@link DecodeException} with the right encoding and reason, and nothing else. */
class CorruptInputTest {
  private static final ObjectMapper MAPPER = new ObjectMapper();
  private final PreferenceEventDecoder decoder = new PreferenceEventDecoder();
  private final byte[] singleObject = new SingleObjectCodec<>(PreferenceEvent.class).encode(Events.thumb());
  private final byte[] json = PreferenceEventJson.write(Events.thumb());

  private DecodeException decodeFailure(byte[] bytes) {
    return catchThrowableOfType(DecodeException.class, () -> decoder.decode(bytes));
  }

  private void assertFails(byte[] bytes, Encoding encoding, DecodeFailure reason, String... messageParts) {
    DecodeException e = decodeFailure(bytes);
    assertThat(e).as("decoding %s", bytes == null ? "null" : Arrays.toString(Arrays.copyOf(bytes, Math.min(bytes.length, 16))))
        .isNotNull();
    assertThat(e.encoding()).isEqualTo(encoding);
    assertThat(e.reason()).as(e.getMessage()).isEqualTo(reason);
    assertThat(e.getMessage()).contains(encoding.name()).contains("expected");
    for (String part : messageParts) assertThat(e.getMessage()).contains(part);
  }

  @Test
  void emptyAndNullInputAreEmpty() {
    assertFails(new byte[0], Encoding.UNKNOWN, DecodeFailure.EMPTY);
    assertFails(null, Encoding.UNKNOWN, DecodeFailure.EMPTY);
  }

  @Test
  void singleObjectTruncatedAtEveryPositionIsTruncated() {
    for (int n = 1; n < singleObject.length; n++) {
      assertFails(Arrays.copyOf(singleObject, n), Encoding.SINGLE_OBJECT, DecodeFailure.TRUNCATED);
    }
  }

  @Test
  void jsonTruncatedAtEveryPositionIsInvalidJson() {
    for (int n = 1; n < json.length; n++) {
      assertFails(Arrays.copyOf(json, n), Encoding.JSON, DecodeFailure.INVALID_JSON);
    }
  }

  @Test
  void confluentHeaderShorterThanFiveBytesIsTruncated() {
    for (int n = 1; n < 5; n++) {
      assertFails(new byte[n], Encoding.CONFLUENT, DecodeFailure.TRUNCATED, "only " + n + " bytes");
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"01", "ff", "5b", "22", "78", "efbbbf5b", "20"})
  void unknownFirstBytesAreBadMagic(String hex) {
    assertFails(java.util.HexFormat.of().parseHex(hex), Encoding.UNKNOWN, DecodeFailure.BAD_MAGIC,
        "0x" + hex.substring(0, 2));
  }

  @Test
  void singleObjectWithWrongSecondMagicByteIsBadMagic() {
    byte[] bytes = singleObject.clone();
    bytes[1] = 0x02;
    assertFails(bytes, Encoding.SINGLE_OBJECT, DecodeFailure.BAD_MAGIC, "c302", "C3 01");
  }

  @Test
  void unknownFingerprintIsReportedWithTheFingerprint() {
    byte[] bytes = singleObject.clone();
    bytes[5] ^= 0x55;
    assertFails(bytes, Encoding.SINGLE_OBJECT, DecodeFailure.UNKNOWN_FINGERPRINT, "fingerprint", "matches no known schema");
  }

  @Test
  void anotherRecordTypesFingerprintIsUnknownForEvents() {
    byte[] bytes = singleObject.clone();
    System.arraycopy(SingleObjectCodec.header(KnownSchemas.fingerprint(KnownSchemas.current(MicroBatch.class))), 0, bytes, 0, 10);
    assertFails(bytes, Encoding.SINGLE_OBJECT, DecodeFailure.UNKNOWN_FINGERPRINT, "MicroBatch");
  }

  @Test
  void trailingBytesAfterTheRecordAreMalformed() {
    byte[] bytes = Arrays.copyOf(singleObject, singleObject.length + 3);
    assertFails(bytes, Encoding.SINGLE_OBJECT, DecodeFailure.MALFORMED, "3 bytes are left");
  }

  @Test
  void hugeLengthPrefixIsTruncatedWithoutAllocating() {
    // Header, then event_id claiming 2^40 bytes: must fail at once, not try to allocate a terabyte.
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(Arrays.copyOf(singleObject, 10));
    out.writeBytes(zigzagVarint(1L << 40));
    out.writeBytes("abc".getBytes(StandardCharsets.UTF_8));
    assertFails(out.toByteArray(), Encoding.SINGLE_OBJECT, DecodeFailure.TRUNCATED, "only 3 are left");
  }

  @Test
  void negativeLengthIsMalformed() {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(Arrays.copyOf(singleObject, 10));
    out.writeBytes(zigzagVarint(-5));
    out.writeBytes(new byte[20]);
    assertFails(out.toByteArray(), Encoding.SINGLE_OBJECT, DecodeFailure.MALFORMED, "negative");
  }

  @Test
  void unionIndexOutOfRangeIsMalformed() {
    // event_id "e", policy_id "d", policy_version branch 0 (null), timestamp 0, user_id null, prompt "p", feedback branch 9.
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(Arrays.copyOf(singleObject, 10));
    out.writeBytes(new byte[] {2, 'e', 2, 'd', 0, 0, 0, 2, 'p', 18, 0, 0, 0, 0});
    assertFails(out.toByteArray(), Encoding.SINGLE_OBJECT, DecodeFailure.MALFORMED);
  }

  @Test
  void overlongVarintIsMalformed() {
    byte[] bytes = Arrays.copyOf(singleObject, 30);
    Arrays.fill(bytes, 10, 30, (byte) 0xff);
    assertFails(bytes, Encoding.SINGLE_OBJECT, DecodeFailure.MALFORMED, "varint");
  }

  @ParameterizedTest
  @ValueSource(strings = {"{", "{\"event_id\":", "{]", "{\"a\":1}}", "{\"a\":1} x", "{'a':1}", "{\"a\":1,\"a\":2}", "{\"a\":tru}"})
  void unparseableJsonIsInvalidJson(String text) {
    assertFails(text.getBytes(StandardCharsets.UTF_8), Encoding.JSON, DecodeFailure.INVALID_JSON, "does not parse");
  }

  @Test
  void invalidUtf8InJsonIsInvalidJson() {
    byte[] bytes = "{\"event_id\":\"x\"}".getBytes(StandardCharsets.UTF_8);
    bytes[13] = (byte) 0xC3; // a lead byte followed by '"', not a continuation byte
    assertFails(bytes, Encoding.JSON, DecodeFailure.INVALID_JSON);
  }

  @Test
  void jsonMissingEachRequiredFieldNamesIt() throws Exception {
    for (String field : new String[] {"event_id", "timestamp", "prompt", "feedback"}) {
      ObjectNode root = (ObjectNode) MAPPER.readTree(json);
      root.remove(field);
      assertFails(MAPPER.writeValueAsBytes(root), Encoding.JSON, DecodeFailure.MISSING_FIELD, "\"" + field + "\"");
      root.putNull(field);
      assertFails(MAPPER.writeValueAsBytes(root), Encoding.JSON, DecodeFailure.MISSING_FIELD, "\"" + field + "\"");
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "\"feedback\":{\"thumb\":{\"response\":\"r\"}}|MISSING_FIELD|feedback.thumb.rating",
      "\"feedback\":{\"comparison\":{\"chosen\":\"a\"}}|MISSING_FIELD|feedback.comparison.rejected",
      "\"feedback\":{\"comparison\":{\"chosen\":\"a\",\"rejected\":null}}|MISSING_FIELD|feedback.comparison.rejected",
      "\"feedback\":{\"stars\":{\"n\":5}}|INVALID_FIELD|unknown kind \"stars\"",
      "\"feedback\":{\"thumb\":{\"response\":\"r\",\"rating\":\"UP\"},\"comparison\":{\"chosen\":\"a\",\"rejected\":\"b\"}}|INVALID_FIELD|exactly one key",
      "\"feedback\":{}|INVALID_FIELD|exactly one key",
      "\"feedback\":\"UP\"|INVALID_FIELD|\"feedback\"",
      "\"feedback\":{\"thumb\":{\"response\":\"r\",\"rating\":\"MEH\"}}|INVALID_FIELD|feedback.thumb.rating",
      "\"feedback\":{\"thumb\":{\"response\":\"r\",\"rating\":\"UP\",\"score\":1}}|INVALID_FIELD|unknown key \"score\"",
      "\"feedback\":{\"thumb\":{\"response\":7,\"rating\":\"UP\"}}|INVALID_FIELD|feedback.thumb.response",
      "\"feedback\":{\"thumb\":[]}|INVALID_FIELD|feedback.thumb",
  })
  void jsonFeedbackErrorsNameTheField(String spec) {
    String[] parts = spec.split("\\|");
    String text = "{\"event_id\":\"e-7\",\"timestamp\":0,\"prompt\":\"p\"," + parts[0] + "}";
    DecodeException e = decodeFailure(text.getBytes(StandardCharsets.UTF_8));
    assertThat(e).isNotNull();
    assertThat(e.encoding()).isEqualTo(Encoding.JSON);
    assertThat(e.reason()).as(e.getMessage()).isEqualTo(DecodeFailure.valueOf(parts[1]));
    assertThat(e.getMessage()).contains(parts[2]).contains("event_id e-7");
    assertThat(e.eventId()).contains("e-7");
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "timestamp|\"yesterday\"|timestamp",
      "timestamp|1.5|timestamp",
      "timestamp|true|timestamp",
      "timestamp|\"+1000000000-01-01T00:00:00Z\"|timestamp",
      "policy_version|\"3\"|policy_version",
      "policy_version|3.5|policy_version",
      "policy_id|5|policy_id",
      "user_id|{}|user_id",
      "prompt|[\"p\"]|prompt",
      "event_id|42|event_id",
      "attributes|[]|attributes",
      "attributes|{\"k\":{\"n\":1}}|attributes.k",
      "attributes|{\"k\":null}|attributes.k",
      "prompt_messages|{\"role\":\"user\"}|prompt_messages",
      "prompt_messages|[\"hi\"]|prompt_messages[0]",
      "prompt_messages|[{\"role\":\"user\",\"content\":7}]|prompt_messages[0].content",
      "prompt_messages|[{\"role\":\"user\",\"content\":\"a\"},{\"role\":[],\"content\":\"b\"}]|prompt_messages[1].role",
  })
  void jsonFieldsOfTheWrongTypeAreInvalidField(String spec) throws Exception {
    String[] parts = spec.split("\\|");
    ObjectNode root = (ObjectNode) MAPPER.readTree(json);
    root.set(parts[0], MAPPER.readTree(parts[1]));
    assertFails(MAPPER.writeValueAsBytes(root), Encoding.JSON, DecodeFailure.INVALID_FIELD, "\"" + parts[2] + "\"");
  }

  @Test
  void jsonTopLevelMustBeAnObject() {
    // '[' is not detected as JSON at all; an object is the only JSON an event can be.
    assertFails("[1]".getBytes(StandardCharsets.UTF_8), Encoding.UNKNOWN, DecodeFailure.BAD_MAGIC);
    assertThatThrownBy(() -> PreferenceEventJson.read("[1]".getBytes(StandardCharsets.UTF_8)))
        .isInstanceOfSatisfying(DecodeException.class, e -> assertThat(e.reason()).isEqualTo(DecodeFailure.INVALID_JSON));
  }

  @Test
  void internalSerdeRejectsBadBytesWithTypedErrors() {
    try (Serde<PolicyUpdate> serde = AvroSerdes.singleObject(PolicyUpdate.class)) {
      var d = serde.deserializer();
      assertThat(d.deserialize("t", null)).isNull();
      for (byte[] bad : new byte[][] {{}, {0x00, 1, 2}, {(byte) 0xC3}, singleObject, json}) {
        DecodeException e = catchThrowableOfType(DecodeException.class, () -> d.deserialize("t", bad));
        assertThat(e).isNotNull();
        assertThat(e.encoding()).isEqualTo(Encoding.SINGLE_OBJECT);
        assertThat(e.reason()).isIn(DecodeFailure.EMPTY, DecodeFailure.BAD_MAGIC, DecodeFailure.TRUNCATED,
            DecodeFailure.UNKNOWN_FINGERPRINT);
      }
    }
  }

  @Test
  void failuresMapToDeadLetterReasons() {
    assertThat(DecodeFailure.MISSING_FIELD.toDeadLetterReason().name()).isEqualTo("MISSING_FIELD");
    assertThat(DecodeFailure.UNKNOWN_FINGERPRINT.toDeadLetterReason().name()).isEqualTo("UNKNOWN_SCHEMA");
    assertThat(DecodeFailure.TRUNCATED.toDeadLetterReason().name()).isEqualTo("UNPARSEABLE");
    assertThat(DecodeFailure.REGISTRY_UNAVAILABLE.isDataError()).isFalse();
    assertThat(DecodeFailure.INVALID_JSON.isDataError()).isTrue();
  }

  static byte[] zigzagVarint(long v) {
    long n = (v << 1) ^ (v >> 63);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    while ((n & ~0x7FL) != 0) {
      out.write((int) ((n & 0x7f) | 0x80));
      n >>>= 7;
    }
    out.write((int) n);
    return out.toByteArray();
  }
}
