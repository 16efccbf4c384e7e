package io.prefstream.schemas.serde;

import static org.assertj.core.api.Assertions.assertThat;

import io.prefstream.schemas.avro.MicroBatch;
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

  /** The writer schema {@code Name-v<n>.avsc} kept in avro-history. */
  static Schema historical(String fullName, int version) {
    List<Schema> history = KnownSchemas.history(fullName);
    assertThat(history).as("%s history", fullName).hasSizeGreaterThanOrEqualTo(version);
    return history.get(version - 1);
  }

  static byte[] singleObject(GenericRecord record) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(SingleObjectCodec.header(KnownSchemas.fingerprint(record.getSchema())));
    out.writeBytes(avroBody(record));
    return out.toByteArray();
  }

  @Test
  void v2EventWithoutPromptMessagesIsReadAsATextPrompt() throws IOException {
    Schema v2 = historical(PreferenceEvent.getClassSchema().getFullName(), 2);
    assertThat(v2.getField("prompt_messages")).isNull();
    assertThat(v2.getField("attributes")).isNotNull();
    GenericRecord event = new GenericData.Record(v2);
    Schema thumbSchema = v2.getField("feedback").schema().getTypes().getFirst();
    GenericRecord thumb = new GenericData.Record(thumbSchema);
    thumb.put("response", "r");
    thumb.put("rating", new GenericData.EnumSymbol(thumbSchema.getField("rating").schema(), "UP"));
    event.put("event_id", "v2-1");
    event.put("policy_id", "assistant");
    event.put("timestamp", Events.T0.toEpochMilli());
    event.put("prompt", "p");
    event.put("feedback", thumb);
    event.put("attributes", java.util.Map.of("k", "v"));
    PreferenceEvent e = new PreferenceEventDecoder().decode(singleObject(event));
    assertThat(e.getEventId()).isEqualTo("v2-1");
    assertThat(e.getPolicyId()).isEqualTo("assistant");
    assertThat(e.getAttributes()).containsEntry("k", "v");
    assertThat(e.getPromptMessages()).isNull();
  }

  @Test
  void v1MicroBatchOnTheTopicsIsReadWithoutPromptMessages() throws IOException {
    Schema v1 = historical(MicroBatch.getClassSchema().getFullName(), 1);
    Schema pairSchema = v1.getField("pairs").schema().getElementType();
    Schema unpairedSchema = v1.getField("unpaired").schema().getElementType();
    assertThat(pairSchema.getField("prompt_messages")).isNull();
    GenericRecord pair = new GenericData.Record(pairSchema);
    pair.put("prompt", "p");
    pair.put("chosen", "a");
    pair.put("rejected", "b");
    pair.put("source_event_ids", List.of("e1"));
    GenericRecord unpaired = new GenericData.Record(unpairedSchema);
    unpaired.put("prompt", "q");
    unpaired.put("response", "r");
    unpaired.put("desirable", true);
    unpaired.put("source_event_id", "e2");
    GenericRecord batch = new GenericData.Record(v1);
    batch.put("batch_id", "b1");
    batch.put("policy_id", "default");
    batch.put("sequence", 4L);
    batch.put("pairs", List.of(pair));
    batch.put("unpaired", List.of(unpaired));
    batch.put("event_time_start", 1L);
    batch.put("event_time_end", 2L);
    batch.put("created_at", 3L);
    MicroBatch mb = new SingleObjectCodec<>(MicroBatch.class).decode(singleObject(batch));
    assertThat(mb.getPairs()).singleElement().satisfies(p -> {
      assertThat(p.getChosen()).isEqualTo("a");
      assertThat(p.getPromptMessages()).isNull();
    });
    assertThat(mb.getUnpaired()).singleElement().satisfies(u -> {
      assertThat(u.getResponse()).isEqualTo("r");
      assertThat(u.getPromptMessages()).isNull();
    });
  }
}
