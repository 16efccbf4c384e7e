package io.prefstream.schemas.serde;

import static org.assertj.core.api.Assertions.assertThat;

import io.prefstream.schemas.avro.Comparison;
import io.prefstream.schemas.avro.ControlCommand;
import io.prefstream.schemas.avro.DeadLetter;
import io.prefstream.schemas.avro.MicroBatch;
import io.prefstream.schemas.avro.PolicyUpdate;
import io.prefstream.schemas.avro.PreferenceEvent;
import io.prefstream.schemas.avro.RolloutState;
import io.prefstream.schemas.avro.Thumb;
import java.util.Map;
import java.util.Random;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.statistics.Statistics;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.serialization.Serde;

/** Every record survives every encoding that applies to it, for random content. */
class SerdeRoundTripTest {
  private static final String TOPIC = "prefstream.events";
  private final PreferenceEventDecoder decoder = new PreferenceEventDecoder();
  private final PreferenceEventSerializer singleObject = new PreferenceEventSerializer(Encoding.SINGLE_OBJECT);
  private final PreferenceEventSerializer json = new PreferenceEventSerializer(Encoding.JSON);

  @Provide
  Arbitrary<PreferenceEvent> events() {
    return RandomRecords.of(PreferenceEvent.class);
  }

  @Property
  void eventsRoundTripInSingleObjectEncoding(@ForAll("events") PreferenceEvent event) {
    classify(event);
    byte[] bytes = singleObject.serialize(TOPIC, event);
    assertThat(PreferenceEventDecoder.detect(bytes)).isEqualTo(Encoding.SINGLE_OBJECT);
    assertThat(decoder.decode(bytes)).isEqualTo(event);
  }

  @Property
  void eventsRoundTripInJson(@ForAll("events") PreferenceEvent event) {
    classify(event);
    byte[] bytes = json.serialize(TOPIC, event);
    assertThat(PreferenceEventDecoder.detect(bytes)).isEqualTo(Encoding.JSON);
    assertThat(decoder.decode(bytes)).isEqualTo(event);
  }

  @Property(tries = 50)
  void eventsRoundTripThroughTheEventSerde(@ForAll("events") PreferenceEvent event) {
    try (Serde<PreferenceEvent> serde = AvroSerdes.preferenceEvents(null)) {
      byte[] bytes = serde.serializer().serialize(TOPIC, event);
      assertThat(serde.deserializer().deserialize(TOPIC, bytes)).isEqualTo(event);
    }
  }

  @Property(tries = 3)
  void megabyteStringsRoundTripInBothEncodings(@ForAll("events") PreferenceEvent base, @ForAll long seed) {
    Random r = new Random(seed);
    PreferenceEvent event = PreferenceEvent.newBuilder(base)
        .setPrompt(RandomRecords.string(r, 1 << 20))
        .setFeedback(new Comparison(RandomRecords.string(r, 1 << 20), "b"))
        .setAttributes(Map.of("long", RandomRecords.string(r, 1 << 18)))
        .build();
    assertThat(decoder.decode(singleObject.serialize(TOPIC, event))).isEqualTo(event);
    assertThat(decoder.decode(json.serialize(TOPIC, event))).isEqualTo(event);
  }

  @Property(tries = 100)
  void microBatchesRoundTrip(@ForAll("microBatches") MicroBatch value) {
    assertRoundTrip(MicroBatch.class, value);
  }

  @Property(tries = 100)
  void policyUpdatesRoundTrip(@ForAll("policyUpdates") PolicyUpdate value) {
    assertRoundTrip(PolicyUpdate.class, value);
  }

  @Property(tries = 100)
  void rolloutStatesRoundTrip(@ForAll("rolloutStates") RolloutState value) {
    assertRoundTrip(RolloutState.class, value);
  }

  @Property(tries = 100)
  void controlCommandsRoundTrip(@ForAll("controlCommands") ControlCommand value) {
    Statistics.label("action").collect(value.getAction().getClass().getSimpleName());
    assertRoundTrip(ControlCommand.class, value);
  }

  @Property(tries = 100)
  void deadLettersRoundTrip(@ForAll("deadLetters") DeadLetter value) {
    assertRoundTrip(DeadLetter.class, value);
  }

  @Property(tries = 100)
  void eventsRoundTripInTheInternalSerde(@ForAll("events") PreferenceEvent value) {
    assertRoundTrip(PreferenceEvent.class, value);
  }

  @Provide
  Arbitrary<MicroBatch> microBatches() {
    return RandomRecords.of(MicroBatch.class);
  }

  @Provide
  Arbitrary<PolicyUpdate> policyUpdates() {
    return RandomRecords.of(PolicyUpdate.class);
  }

  @Provide
  Arbitrary<RolloutState> rolloutStates() {
    return RandomRecords.of(RolloutState.class);
  }

  @Provide
  Arbitrary<ControlCommand> controlCommands() {
    return RandomRecords.of(ControlCommand.class);
  }

  @Provide
  Arbitrary<DeadLetter> deadLetters() {
    return RandomRecords.of(DeadLetter.class);
  }

  private static <T extends SpecificRecord> void assertRoundTrip(Class<T> type, T value) {
    try (Serde<T> serde = AvroSerdes.singleObject(type)) {
      byte[] bytes = serde.serializer().serialize("prefstream.internal", value);
      assertThat(bytes[0]).isEqualTo((byte) 0xC3);
      assertThat(serde.deserializer().deserialize("prefstream.internal", bytes)).isEqualTo(value);
    }
  }

  private static void classify(PreferenceEvent e) {
    Statistics.label("feedback").collect(e.getFeedback() instanceof Thumb ? "thumb" : "comparison");
    Statistics.label("optional fields").collect(e.getUserId() == null ? "no user" : "user",
        e.getPolicyVersion() == null ? "no version" : "version");
    Statistics.label("unicode").collect(e.getPrompt().codePoints().anyMatch(Character::isSupplementaryCodePoint)
        ? "supplementary" : e.getPrompt().isEmpty() ? "empty" : "bmp");
  }
}
