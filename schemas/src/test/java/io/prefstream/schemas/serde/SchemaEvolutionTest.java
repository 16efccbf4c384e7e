package io.prefstream.schemas.serde;

import static org.assertj.core.api.Assertions.assertThat;

import io.prefstream.schemas.avro.PreferenceEvent;
import io.prefstream.schemas.avro.Rating;
import io.prefstream.schemas.avro.Thumb;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificRecord;
import org.junit.jupiter.api.Test;

/** Events written by producers on an older schema version still decode, with the new fields' defaults. */
class SchemaEvolutionTest {
  static Schema v1() {
    List<Schema> history = KnownSchemas.history(PreferenceEvent.getClassSchema().getFullName());
    assertThat(history).isNotEmpty();
    return history.getFirst();
  }

  /** A v1 event as an old producer would build it: no policy_id, policy_version, user_id or attributes. */
  static GenericRecord v1Event() {
    Schema v1 = v1();
    Schema thumbSchema = v1.getField("feedback").schema().getTypes().getFirst();
    GenericRecord thumb = new GenericData.Record(thumbSchema);
    thumb.put("response", "old response");
    thumb.put("rating", new GenericData.EnumSymbol(thumbSchema.getField("rating").schema(), "DOWN"));
    GenericRecord event = new GenericData.Record(v1);
    event.put("event_id", "old-1");
    event.put("timestamp", Events.T0.toEpochMilli());
    event.put("prompt", "an old prompt");
    event.put("feedback", thumb);
    return event;
  }

  static byte[] avroBody(GenericRecord record) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    BinaryEncoder enc = EncoderFactory.get().directBinaryEncoder(out, null);
    new GenericDatumWriter<GenericRecord>(record.getSchema()).write(record, enc);
    enc.flush();
    return out.toByteArray();
  }

  static void assertIsTheV1EventWithDefaults(PreferenceEvent e) {
    assertThat(e.getEventId()).isEqualTo("old-1");
    assertThat(e.getTimestamp()).isEqualTo(Events.T0);
    assertThat(e.getPrompt()).isEqualTo("an old prompt");
    assertThat(e.getFeedback()).isEqualTo(new Thumb("old response", Rating.DOWN));
    assertThat(e.getPolicyId()).isEqualTo("default");
    assertThat(e.getPolicyVersion()).isNull();
    assertThat(e.getUserId()).isNull();
    assertThat(e.getAttributes()).isEmpty();
  }

  @Test
  void v1SingleObjectEventIsReadWithTheCurrentSchema() throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(SingleObjectCodec.header(KnownSchemas.fingerprint(v1())));
    out.writeBytes(avroBody(v1Event()));
    assertIsTheV1EventWithDefaults(new PreferenceEventDecoder().decode(out.toByteArray()));
  }

  @Test
  void v1FingerprintDiffersFromTheCurrentOne() {
    assertThat(KnownSchemas.fingerprint(v1())).isNotEqualTo(KnownSchemas.fingerprint(PreferenceEvent.getClassSchema()));
  }

  @Test
  void avrosOwnMessageDecoderReadsV1ThroughTheKnownSchemaStore() throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(SingleObjectCodec.header(KnownSchemas.fingerprint(v1())));
    out.writeBytes(avroBody(v1Event()));
    PreferenceEvent e = PreferenceEvent.createDecoder(KnownSchemas.store()).decode(ByteBuffer.wrap(out.toByteArray()));
    assertIsTheV1EventWithDefaults(e);
  }

  @Test
  void everyHistoricalSchemaCanBeReadByTheCurrentOne() {
    for (Class<? extends SpecificRecord> type : KnownSchemas.RECORD_TYPES) {
      Schema current = KnownSchemas.current(type);
      for (Schema old : KnownSchemas.writerSchemas(type)) {
        assertThat(SchemaCompatibility.checkReaderWriterCompatibility(current, old).getType())
            .as("%s can read %s", current.getFullName(), old)
            .isEqualTo(SchemaCompatibility.SchemaCompatibilityType.COMPATIBLE);
        assertThat(KnownSchemas.byFingerprint(KnownSchemas.fingerprint(old))).isEqualTo(old);
      }
    }
  }

  @Test
  void generatedEncoderAgreesWithOurSingleObjectBytes() throws IOException {
    PreferenceEvent e = Events.thumb();
    ByteBuffer avros = e.toByteBuffer();
    byte[] ours = new SingleObjectCodec<>(PreferenceEvent.class).encode(e);
    byte[] theirs = new byte[avros.remaining()];
    avros.get(theirs);
    assertThat(ours).isEqualTo(theirs);
  }
}
