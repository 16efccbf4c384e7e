package io.prefstream.schemas.serde;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import io.prefstream.schemas.avro.PreferenceEvent;
import io.prefstream.schemas.registry.ApicurioRegistry;
import io.prefstream.schemas.registry.RegisteredSchema;
import io.prefstream.schemas.registry.RegistryConfig;
import io.prefstream.schemas.registry.SchemaRegistryClient;
import io.prefstream.schemas.topic.Topics;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.kafka.common.errors.SerializationException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The registry client and the Confluent wire format against a real Apicurio Registry through its
 * Confluent-compatible API. One registry for the class (it takes seconds to start); each test uses its
 * own subjects.
 */
class ConfluentRegistryTest {
  private static ApicurioRegistry registry;

  @BeforeAll
  static void startRegistry() throws IOException {
    registry = ApicurioRegistry.start();
  }

  @AfterAll
  static void stopRegistry() {
    if (registry != null) registry.close();
  }

  /** A new client each time, so reads really go to the registry instead of a cache. */
  private static SchemaRegistryClient client() {
    return new SchemaRegistryClient(RegistryConfig.of(registry.ccompatUrl())
        .withRetries(2, Duration.ofMillis(50), Duration.ofMillis(100)));
  }

  /** Magic byte 0, the schema id big-endian, then the Avro body. */
  static byte[] confluentFrame(int id, byte[] body) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(new byte[] {0, (byte) (id >>> 24), (byte) (id >>> 16), (byte) (id >>> 8), (byte) id});
    out.writeBytes(body);
    return out.toByteArray();
  }

  @Test
  void registersFetchesByIdAndListsVersions() {
    Schema v1 = SchemaEvolutionTest.v1();
    Schema current = PreferenceEvent.getClassSchema();
    String subject = "registry-basics-value";
    try (SchemaRegistryClient client = client()) {
      int id1 = client.register(subject, v1);
      int id2 = client.register(subject, current);
      assertThat(id2).isNotEqualTo(id1);
      assertThat(client.register(subject, v1)).as("registering again gives the same id").isEqualTo(id1);
      assertThat(client.subjects()).contains(subject);
    }
    try (SchemaRegistryClient client = client()) {
      assertThat(client.versions(subject)).containsExactly(1, 2);
      RegisteredSchema first = client.version(subject, 1);
      assertThat(first.schema()).isEqualTo(v1);
      assertThat(first.subject()).isEqualTo(subject);
      RegisteredSchema latest = client.latest(subject);
      assertThat(latest.version()).isEqualTo(2);
      assertThat(latest.schema()).isEqualTo(current);
      assertThat(client.schemaById(first.id())).isEqualTo(v1);
      assertThat(client.schemaById(latest.id())).isEqualTo(current);
      assertThat(client.lookup(subject, v1)).get().extracting(RegisteredSchema::version).isEqualTo(1);
      assertThat(client.lookup(subject, Schema.create(Schema.Type.STRING))).isEmpty();
      assertThat(client.lookup("no-such-subject-value", v1)).isEmpty();
    }
  }

  @Test
  void missingSubjectOrVersionIsAClearNotFound() {
    try (SchemaRegistryClient client = client()) {
      assertThatThrownBy(() -> client.versions("never-registered-value"))
          .isInstanceOfSatisfying(io.prefstream.schemas.registry.RegistryException.class, e -> {
            assertThat(e.isNotFound()).isTrue();
            assertThat(e.errorCode()).isEqualTo(40401);
            assertThat(e.getMessage()).contains(registry.ccompatUrl() + "/subjects/never-registered-value/versions",
                "HTTP 404", "registry says");
          });
    }
  }

  @Test
  void randomEventsRoundTripInConfluentWireFormat() {
    List<PreferenceEvent> events = RandomRecords.of(PreferenceEvent.class).sampleStream().limit(60).toList();
    try (SchemaRegistryClient writerClient = client(); SchemaRegistryClient readerClient = client()) {
      PreferenceEventSerializer serializer = new PreferenceEventSerializer(Encoding.CONFLUENT, writerClient);
      PreferenceEventDecoder decoder = new PreferenceEventDecoder(readerClient);
      for (PreferenceEvent event : events) {
        byte[] bytes = serializer.serialize(Topics.EVENTS, event);
        assertThat(bytes[0]).isZero();
        assertThat(PreferenceEventDecoder.detect(bytes)).isEqualTo(Encoding.CONFLUENT);
        assertThat(decoder.decode(bytes)).isEqualTo(event);
      }
      assertThat(writerClient.latest(ConfluentWireSerializer.subjectFor(Topics.EVENTS)).schema())
          .isEqualTo(PreferenceEvent.getClassSchema());
    }
  }

  @Test
  void eventWrittenWithTheV1SchemaDecodesWithTheCurrentOne() throws IOException {
    try (SchemaRegistryClient client = client()) {
      int id = client.register("old-app-value", SchemaEvolutionTest.v1());
      byte[] bytes = confluentFrame(id, SchemaEvolutionTest.avroBody(SchemaEvolutionTest.v1Event()));
      try (SchemaRegistryClient reader = client()) {
        SchemaEvolutionTest.assertIsTheV1EventWithDefaults(new PreferenceEventDecoder(reader).decode(bytes));
      }
    }
  }

  @Test
  void confluentMessageTruncatedAtEveryPositionIsTruncated() {
    try (SchemaRegistryClient client = client()) {
      byte[] valid = new PreferenceEventSerializer(Encoding.CONFLUENT, client).serialize("truncation", Events.thumb());
      PreferenceEventDecoder decoder = new PreferenceEventDecoder(client);
      assertThat(decoder.decode(valid)).isEqualTo(Events.thumb());
      for (int n = 1; n < valid.length; n++) {
        byte[] cut = Arrays.copyOf(valid, n);
        DecodeException e = catchThrowableOfType(DecodeException.class, () -> decoder.decode(cut));
        assertThat(e).as("prefix of %d bytes", n).isNotNull();
        assertThat(e.encoding()).isEqualTo(Encoding.CONFLUENT);
        assertThat(e.reason()).as(e.getMessage()).isEqualTo(DecodeFailure.TRUNCATED);
      }
    }
  }

  @Test
  void unknownSchemaIdIsUnknownSchema() {
    try (SchemaRegistryClient client = client()) {
      DecodeException e = catchThrowableOfType(DecodeException.class,
          () -> new PreferenceEventDecoder(client).decode(confluentFrame(987_654, new byte[] {2, 'x'})));
      assertThat(e.encoding()).isEqualTo(Encoding.CONFLUENT);
      assertThat(e.reason()).isEqualTo(DecodeFailure.UNKNOWN_SCHEMA);
      assertThat(e.getMessage()).contains("schema id 987654", "HTTP 404", registry.ccompatUrl());
    }
  }

  @Test
  void incompatibleWriterSchemaIsSchemaIncompatible() {
    Schema wrong = new Schema.Parser().parse("""
        {"type":"record","name":"PreferenceEvent","namespace":"io.prefstream.schemas.avro",
         "fields":[{"name":"event_id","type":"string"},{"name":"prompt","type":"int"}]}""");
    try (SchemaRegistryClient client = client()) {
      int id = client.register("incompatible-value", wrong);
      DecodeException e = catchThrowableOfType(DecodeException.class,
          () -> new PreferenceEventDecoder(client).decode(confluentFrame(id, new byte[] {2, 'x', 4})));
      assertThat(e.reason()).isEqualTo(DecodeFailure.SCHEMA_INCOMPATIBLE);
      assertThat(e.getMessage()).contains("schema id " + id,
          "field timestamp: not in the writer schema, and the reader has no default for it",
          "field prompt: reader type: STRING not compatible with writer type: INT");
    }
  }

  @Test
  void serializerWithoutAutoRegistrationNeedsTheSchemaRegistered() {
    try (SchemaRegistryClient client = client()) {
      ConfluentWireSerializer<PreferenceEvent> strict = new ConfluentWireSerializer<>(client, PreferenceEvent.class, false);
      assertThatThrownBy(() -> strict.serialize("manual", Events.thumb()))
          .isInstanceOf(SerializationException.class)
          .hasMessageContaining("not registered under subject manual-value");
      int id = client.register("manual-value", PreferenceEvent.getClassSchema());
      ConfluentWireSerializer<PreferenceEvent> again = new ConfluentWireSerializer<>(client, PreferenceEvent.class, false);
      assertThat(again.schemaId("manual")).isEqualTo(id);
      assertThat(new PreferenceEventDecoder(client).decode(again.serialize("manual", Events.comparison())))
          .isEqualTo(Events.comparison());
    }
  }

  @Test
  void kafkaSerdesConfiguredFromPropertiesUseTheRegistry() {
    Map<String, Object> props = Map.of(
        PreferenceEventDeserializer.REGISTRY_URL_CONFIG, registry.ccompatUrl(),
        PreferenceEventSerializer.ENCODING_CONFIG, "confluent");
    try (PreferenceEventSerializer s = new PreferenceEventSerializer();
        PreferenceEventDeserializer d = new PreferenceEventDeserializer()) {
      s.configure(props, false);
      d.configure(props, false);
      byte[] bytes = s.serialize("configured", Events.thumb());
      assertThat(PreferenceEventDecoder.detect(bytes)).isEqualTo(Encoding.CONFLUENT);
      assertThat(d.deserialize("configured", bytes)).isEqualTo(Events.thumb());
    }
  }
}
