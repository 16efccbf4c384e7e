package io.prefstream.schemas.serde;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.prefstream.schemas.avro.PreferenceEvent;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class PreferenceEventDecoderTest {
  private final PreferenceEventDecoder decoder = new PreferenceEventDecoder();

  @ParameterizedTest
  @EnumSource(value = Encoding.class, names = {"SINGLE_OBJECT", "JSON"})
  void readsBackWhatTheSerializerWrote(Encoding encoding) {
    PreferenceEventSerializer serializer = new PreferenceEventSerializer(encoding);
    for (PreferenceEvent e : new PreferenceEvent[] {Events.thumb(), Events.comparison()}) {
      byte[] bytes = serializer.serialize("prefstream.events", e);
      assertThat(PreferenceEventDecoder.detect(bytes)).isEqualTo(encoding);
      assertThat(decoder.decode(bytes)).isEqualTo(e);
    }
  }

  @Test
  void confluentBytesWithoutRegistryAreATypedError() {
    byte[] bytes = {0, 0, 0, 0, 7, 2, 'a'};
    assertThatThrownBy(() -> decoder.decode(bytes))
        .isInstanceOfSatisfying(DecodeException.class, e -> {
          assertThat(e.encoding()).isEqualTo(Encoding.CONFLUENT);
          assertThat(e.reason()).isEqualTo(DecodeFailure.UNKNOWN_SCHEMA);
          assertThat(e.getMessage()).contains("schema id 7", "no schema registry is configured");
        });
  }

  @Test
  void jsonMissingPromptNamesTheField() {
    byte[] bytes = """
        {"event_id":"e-9","timestamp":1,"feedback":{"thumb":{"response":"r","rating":"up"}}}"""
        .getBytes(StandardCharsets.UTF_8);
    assertThatThrownBy(() -> decoder.decode(bytes))
        .isInstanceOfSatisfying(DecodeException.class, e -> {
          assertThat(e.encoding()).isEqualTo(Encoding.JSON);
          assertThat(e.reason()).isEqualTo(DecodeFailure.MISSING_FIELD);
          assertThat(e.getMessage()).contains("\"prompt\"");
          assertThat(e.eventId()).contains("e-9");
        });
  }
}
