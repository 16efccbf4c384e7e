package io.prefstream.schemas.serde;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.prefstream.schemas.avro.ChatMessage;
import io.prefstream.schemas.avro.Comparison;
import io.prefstream.schemas.avro.PreferenceEvent;
import io.prefstream.schemas.avro.Rating;
import io.prefstream.schemas.avro.Thumb;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The documented JSON shape: what is accepted leniently, and what the writer produces. */
class JsonShapeTest {
  private final PreferenceEventDecoder decoder = new PreferenceEventDecoder();

  private PreferenceEvent decode(String text) {
    return decoder.decode(text.getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void minimalEventGetsDefaults() {
    PreferenceEvent e = decode("""
        {"event_id":"e1","timestamp":1795687200000,"prompt":"p",
         "feedback":{"comparison":{"chosen":"a","rejected":"b"}}}""");
    assertThat(e.getPolicyId()).isEqualTo("default");
    assertThat(e.getPolicyVersion()).isNull();
    assertThat(e.getUserId()).isNull();
    assertThat(e.getAttributes()).isEmpty();
    assertThat(e.getTimestamp()).isEqualTo(Instant.ofEpochMilli(1795687200000L));
    assertThat(e.getFeedback()).isEqualTo(new Comparison("a", "b"));
  }

  @Test
  void fullEventAsDocumented() {
    PreferenceEvent e = decode("""
        {"event_id":"7f3c","policy_id":"assistant","policy_version":3,"timestamp":"2026-11-26T10:00:00Z",
         "user_id":"u-42","prompt":"Write a haiku","feedback":{"thumb":{"response":"Logs flow","rating":"UP"}},
         "attributes":{"surface":"web"}}""");
    assertThat(e).isEqualTo(PreferenceEvent.newBuilder()
        .setEventId("7f3c").setPolicyId("assistant").setPolicyVersion(3L)
        .setTimestamp(Instant.parse("2026-11-26T10:00:00Z")).setUserId("u-42").setPrompt("Write a haiku")
        .setFeedback(new Thumb("Logs flow", Rating.UP)).setAttributes(Map.of("surface", "web")).build());
  }

  @Test
  void leniencies() {
    PreferenceEvent e = decode("\uFEFF \n\t" + """
        {"event_id":"e1","policy_id":null,"policy_version":null,"user_id":null,"attributes":null,
         "timestamp":"2026-11-26T11:00:00.123456+01:00","prompt":"p","client":"ios-4.2",
         "feedback":{"thumb":{"response":"r","rating":"down"}}}""");
    assertThat(e.getPolicyId()).isEqualTo("default");
    assertThat(e.getTimestamp()).isEqualTo(Instant.parse("2026-11-26T10:00:00.123Z"));
    assertThat(e.getFeedback()).isEqualTo(new Thumb("r", Rating.DOWN));
    assertThat(e.getAttributes()).isEmpty();
  }

  @Test
  void scalarAttributeValuesAreTakenAsText() {
    PreferenceEvent e = decode("""
        {"event_id":"e1","timestamp":0,"prompt":"p","feedback":{"thumb":{"response":"r","rating":"UP"}},
         "attributes":{"bucket":3,"beta":true,"ratio":0.5,"s":"x"}}""");
    assertThat(e.getAttributes()).containsExactlyInAnyOrderEntriesOf(
        Map.of("bucket", "3", "beta", "true", "ratio", "0.5", "s", "x"));
  }

  @Test
  void writerProducesTheDocumentedShape() throws IOException {
    JsonNode node = new ObjectMapper().readTree(PreferenceEventJson.write(Events.thumb()));
    assertThat(node.get("event_id").asText()).isEqualTo("e-1");
    assertThat(node.get("timestamp").asText()).isEqualTo("2026-11-26T10:00:00.123Z");
    assertThat(node.at("/feedback/thumb/rating").asText()).isEqualTo("UP");
    assertThat(node.get("policy_version").asLong()).isEqualTo(3);

    JsonNode minimal = new ObjectMapper().readTree(PreferenceEventJson.write(Events.comparison()));
    assertThat(minimal.has("user_id")).isFalse();
    assertThat(minimal.has("policy_version")).isFalse();
    assertThat(minimal.get("attributes").isObject()).isTrue();
    assertThat(minimal.at("/feedback/comparison/chosen").asText()).startsWith("It optimises");
  }

  @Test
  void chatEventCarriesItsConversationAsPromptMessages() {
    PreferenceEvent e = decode("""
        {"event_id":"c1","timestamp":0,"prompt":"<|bos|>User: Hi\\nAssistant:",
         "prompt_messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}],
         "feedback":{"thumb":{"response":"Hello.","rating":"UP"}}}""");
    assertThat(e.getPromptMessages()).containsExactly(new ChatMessage("system", "Be brief."), new ChatMessage("user", "Hi"));
    assertThat(e.getPrompt()).isEqualTo("<|bos|>User: Hi\nAssistant:");
    // Absent and null both mean a text prompt.
    assertThat(decode("""
        {"event_id":"c2","timestamp":0,"prompt":"p","prompt_messages":null,
         "feedback":{"thumb":{"response":"r","rating":"UP"}}}""").getPromptMessages()).isNull();
    assertThat(Events.thumb().getPromptMessages()).isNull();
  }

  @Test
  void promptMessagesRoundTripThroughTheWriterAndAreLeftOutWhenAbsent() throws IOException {
    PreferenceEvent chat = PreferenceEvent.newBuilder(Events.thumb())
        .setPromptMessages(List.of(new ChatMessage("user", "Write a haiku about Kafka"))).build();
    byte[] json = PreferenceEventJson.write(chat);
    assertThat(PreferenceEventJson.read(json)).isEqualTo(chat);
    assertThat(new ObjectMapper().readTree(json).at("/prompt_messages/0/content").asText()).isEqualTo("Write a haiku about Kafka");
    assertThat(new ObjectMapper().readTree(PreferenceEventJson.write(Events.thumb())).has("prompt_messages")).isFalse();
  }

  @Test
  void aMessageKeyTheEventCannotCarryIsRefused() {
    assertThatThrownBy(() -> decode("""
        {"event_id":"c3","timestamp":0,"prompt":"p","prompt_messages":[{"role":"user","content":"x","name":"bob"}],
         "feedback":{"thumb":{"response":"r","rating":"UP"}}}"""))
        .isInstanceOfSatisfying(DecodeException.class, e -> {
          assertThat(e.reason()).isEqualTo(DecodeFailure.INVALID_FIELD);
          assertThat(e.getMessage()).contains("prompt_messages[0]", "unknown key \"name\"");
        });
  }
}
