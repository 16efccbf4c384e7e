package io.prefstream.schemas.serde;

import io.prefstream.schemas.avro.PreferenceEvent;
import io.prefstream.schemas.registry.SchemaRegistryClient;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;

/**
 * Kafka {@link Serde}s for the generated Avro records. Internal topics (batches, eval, policy updates,
 * rollout, control, dead letters) use {@link #singleObject(Class)}; the events topic uses
 * {@link #preferenceEvents(SchemaRegistryClient)}, which reads all three encodings. Bad bytes throw
 * {@link DecodeException}; null values (tombstones) pass through as null both ways.
 */
public final class AvroSerdes {
  private AvroSerdes() {}

  /** Avro single-object encoding of {@code type}, reading older known writer schemas too. */
  public static <T extends SpecificRecord> Serde<T> singleObject(Class<T> type) {
    SingleObjectCodec<T> codec = new SingleObjectCodec<>(type);
    Serializer<T> serializer = (topic, data) -> data == null ? null : codec.encode(data);
    Deserializer<T> deserializer = (topic, data) -> data == null ? null : codec.decode(data);
    return Serdes.serdeFrom(serializer, deserializer);
  }

  /**
   * Events: read in any encoding (Confluent ids resolved through {@code registry}, which may be null),
   * written in single-object encoding.
   */
  public static Serde<PreferenceEvent> preferenceEvents(SchemaRegistryClient registry) {
    return Serdes.serdeFrom(new PreferenceEventSerializer(Encoding.SINGLE_OBJECT),
        new PreferenceEventDeserializer(new PreferenceEventDecoder(registry)));
  }
}
