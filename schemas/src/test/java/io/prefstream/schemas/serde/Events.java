package io.prefstream.schemas.serde;

import io.prefstream.schemas.avro.Comparison;
import io.prefstream.schemas.avro.PreferenceEvent;
import io.prefstream.schemas.avro.Rating;
import io.prefstream.schemas.avro.Thumb;
import java.time.Instant;
import java.util.Map;

/** Fixed sample events for the tests. */
final class Events {
  private Events() {}

  static final Instant T0 = Instant.parse("2026-11-26T10:00:00.123Z");

  static PreferenceEvent thumb() {
    return PreferenceEvent.newBuilder()
        .setEventId("e-1")
        .setPolicyId("default")
        .setPolicyVersion(3L)
        .setTimestamp(T0)
        .setUserId("u1")
        .setPrompt("Write a haiku about Kafka")
        .setFeedback(new Thumb("Logs flow like rivers", Rating.UP))
        .setAttributes(Map.of("surface", "web"))
        .build();
  }

  static PreferenceEvent comparison() {
    return PreferenceEvent.newBuilder()
        .setEventId("e-2")
        .setTimestamp(T0)
        .setPrompt("Explain DPO in one line")
        .setFeedback(new Comparison("It optimises preferences directly.", "It is a kind of RL."))
        .build();
  }
}
