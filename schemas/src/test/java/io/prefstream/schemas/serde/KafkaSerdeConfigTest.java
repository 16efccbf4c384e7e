package io.prefstream.schemas.serde;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.prefstream.schemas.avro.PreferenceEvent;
import io.prefstream.schemas.avro.Thumb;
import java.util.Map;
import org.apache.kafka.common.errors.SerializationException;
import org.junit.jupiter.api.Test;

/** The Kafka serializer and deserializer as Kafka builds them: no-argument constructors plus configure. */
class KafkaSerdeConfigTest {
  @Test
  void serializerDefaultsToSingleObjectAndIsConfigurable() {
    try (PreferenceEventSerializer s = new PreferenceEventSerializer()) {
      assertThat(s.encoding()).isEqualTo(Encoding.SINGLE_OBJECT);
      s.configure(Map.of(PreferenceEventSerializer.ENCODING_CONFIG, "json"), false);
      assertThat(s.encoding()).isEqualTo(Encoding.JSON);
      assertThat(PreferenceEventDecoder.detect(s.serialize("t", Events.thumb()))).isEqualTo(Encoding.JSON);
    }
  }

  @Test
  void serializerRejectsUnknownEncodingAndConfluentWithoutRegistry() {
    try (PreferenceEventSerializer s = new PreferenceEventSerializer()) {
      assertThatThrownBy(() -> s.configure(Map.of(PreferenceEventSerializer.ENCODING_CONFIG, "xml"), false))
          .hasMessageContaining("'xml'").hasMessageContaining("single_object, json or confluent");
      assertThatThrownBy(() -> s.configure(Map.of(PreferenceEventSerializer.ENCODING_CONFIG, "confluent"), false))
          .hasMessageContaining("needs a schema registry");
    }
  }

  @Test
  void nullsPassThroughAsTombstones() {
    try (PreferenceEventSerializer s = new PreferenceEventSerializer();
        PreferenceEventDeserializer d = new PreferenceEventDeserializer()) {
      assertThat(s.serialize("t", null)).isNull();
      assertThat(d.deserialize("t", null)).isNull();
    }
  }

  @Test
  void incompleteEventsAreRefusedWithTheMissingField() {
    PreferenceEvent noRating = PreferenceEvent.newBuilder(Events.thumb()).build();
    ((Thumb) noRating.getFeedback()).setRating(null);
    assertThatThrownBy(() -> new PreferenceEventSerializer(Encoding.JSON).serialize("t", noRating))
        .isInstanceOf(SerializationException.class).hasMessageContaining("feedback.thumb.rating");
    assertThatThrownBy(() -> new PreferenceEventSerializer(Encoding.SINGLE_OBJECT).serialize("t", noRating))
        .isInstanceOf(SerializationException.class).hasMessageContaining("PreferenceEvent");
  }

  @Test
  void deserializerWithoutRegistryReadsSingleObjectAndJson() {
    try (PreferenceEventDeserializer d = new PreferenceEventDeserializer()) {
      d.configure(Map.of(), false);
      assertThat(d.deserialize("t", new PreferenceEventSerializer().serialize("t", Events.comparison())))
          .isEqualTo(Events.comparison());
      assertThat(d.deserialize("t", PreferenceEventJson.write(Events.thumb()))).isEqualTo(Events.thumb());
    }
  }
}
