package io.prefstream.ingest.topology;

import static io.prefstream.ingest.topology.Harness.T0;
import static io.prefstream.ingest.topology.Harness.comparison;
import static io.prefstream.ingest.topology.Harness.event;
import static io.prefstream.ingest.topology.Harness.thumb;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.prefstream.ingest.config.UnpairedPolicy;
import io.prefstream.schemas.avro.ChatMessage;
import io.prefstream.schemas.avro.Comparison;
import io.prefstream.schemas.avro.DeadLetter;
import io.prefstream.schemas.avro.DeadLetterReason;
import io.prefstream.schemas.avro.MicroBatch;
import io.prefstream.schemas.avro.PreferenceEvent;
import io.prefstream.schemas.avro.PreferencePair;
import io.prefstream.schemas.avro.Rating;
import io.prefstream.schemas.avro.Thumb;
import io.prefstream.schemas.avro.UnpairedExample;
import io.prefstream.schemas.registry.RegistryConfig;
import io.prefstream.schemas.registry.SchemaRegistryClient;
import io.prefstream.schemas.serde.DecodeException;
import io.prefstream.schemas.serde.DecodeFailure;
import io.prefstream.schemas.serde.PreferenceEventDecoder;
import io.prefstream.schemas.topic.Topics;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/**
 * The ingest topology, rule by rule, on Kafka's TopologyTestDriver. Each test narrates: create the
 * topology with the settings the rule needs, write input, move the wall clock when the rule is
 * about time, and verify what reached {@code prefstream.batches}, {@code prefstream.eval} and
 * {@code prefstream.events.dlq}.
 */
class IngestTopologyTest {

  private static String text(DeadLetter letter) {
    ByteBuffer b = letter.getOriginalValue().duplicate();
    byte[] bytes = new byte[b.remaining()];
    b.get(bytes);
    return new String(bytes, StandardCharsets.UTF_8);
  }

  @Nested
  class ReadingAndDeadLetters {
    @Test
    void bytesThatDoNotParseGoToTheDlqWithTheirOriginAndTheStreamGoesOn() {
      // Create the topology.
      try (Harness h = Harness.create(b -> b.batchSize(1))) {
        // Write garbage, then a good comparison.
        h.sendBytes("k1".getBytes(StandardCharsets.UTF_8), "not an event".getBytes(StandardCharsets.UTF_8));
        h.send(comparison("e-1", "p", "good", "bad", T0));

        // The garbage is a dead letter holding the exact bytes, key and source position...
        List<DeadLetter> dead = h.readDlq();
        assertThat(dead).hasSize(1);
        DeadLetter letter = dead.getFirst();
        assertThat(letter.getReason()).isEqualTo(DeadLetterReason.UNPARSEABLE);
        assertThat(letter.getMessage()).contains("BAD_MAGIC");
        assertThat(text(letter)).isEqualTo("not an event");
        assertThat(letter.getOriginalKey()).isEqualTo(ByteBuffer.wrap("k1".getBytes(StandardCharsets.UTF_8)));
        assertThat(letter.getSourceTopic()).isEqualTo(Topics.EVENTS);
        assertThat(letter.getSourcePartition()).isZero();
        assertThat(letter.getSourceOffset()).isZero();
        assertThat(letter.getEventId()).isNull();
        assertThat(letter.getFailedAt()).isEqualTo(T0);
        // ...and the good event behind it still became a batch.
        assertThat(h.readBatches()).hasSize(1);
        assertThat(h.metrics.invalidCount(DeadLetterReason.UNPARSEABLE)).isEqualTo(1);
        assertThat(h.metrics.eventsIn()).isEqualTo(2);
      }
    }

    @Test
    void aHugeUndecodableRecordIsDeadLetteredWithItsHeadSoTheDeadLetterFitsInAMessage() {
      try (Harness h = Harness.create(b -> b)) {
        byte[] huge = new byte[900 * 1024];
        java.util.Arrays.fill(huge, (byte) 'x');
        h.sendBytes(null, huge);

        DeadLetter letter = h.readDlq().getFirst();
        assertThat(letter.getOriginalValue().remaining()).isEqualTo(DecodeValidateProcessor.MAX_ORIGINAL_VALUE_BYTES);
        assertThat(letter.getMessage()).contains("first 524288 of 921600 bytes");
      }
    }

    @Test
    void jsonAndSingleObjectEventsAreBothAccepted() {
      try (Harness h = Harness.create(b -> b.batchSize(2))) {
        // One event per encoding an app may use without a registry.
        h.send(comparison("e-avro", "p", "a", "b", T0));
        h.sendJson(comparison("e-json", "q", "c", "d", T0));

        MicroBatch batch = h.readBatches().getFirst();
        assertThat(batch.getPairs()).extracting(p -> p.getSourceEventIds().getFirst())
            .containsExactly("e-avro", "e-json");
        assertThat(h.readDlq()).isEmpty();
      }
    }

    @Test
    void confluentFramedEventsWithoutARegistryAreDeadLetteredAsUnknownSchema() {
      try (Harness h = Harness.create(b -> b)) {
        // Magic 0, schema id 7, then a body: nothing can resolve id 7 without a registry.
        h.sendBytes(null, new byte[] {0, 0, 0, 0, 7, 2, 'x'});

        assertThat(h.readDlq()).singleElement()
            .satisfies(l -> assertThat(l.getReason()).isEqualTo(DeadLetterReason.UNKNOWN_SCHEMA));
      }
    }

    @Test
    void aSchemaRegistryOutageStopsTheTaskInsteadOfDeadLetteringGoodEvents() {
      // A registry that refuses connections, asked once: the Confluent-framed event cannot be read
      // now, but that is not the event's fault.
      RegistryConfig unreachable = RegistryConfig.of("http://127.0.0.1:1")
          .withRetries(1, Duration.ofMillis(1), Duration.ofMillis(1));
      try (SchemaRegistryClient registry = new SchemaRegistryClient(unreachable);
          Harness h = Harness.create(b -> b, new PreferenceEventDecoder(registry))) {
        assertThatThrownBy(() -> h.sendBytes(null, new byte[] {0, 0, 0, 0, 7, 2, 'x'}))
            .cause().isInstanceOfSatisfying(DecodeException.class,
                e -> assertThat(e.reason()).isEqualTo(DecodeFailure.REGISTRY_UNAVAILABLE));
        assertThat(h.readDlq()).isEmpty();
        assertThat(h.metrics.invalidTotal()).isZero();
      }
    }

    @Test
    void jsonWithoutAPromptIsDeadLetteredAsMissingFieldWithItsEventId() {
      try (Harness h = Harness.create(b -> b)) {
        h.sendBytes(null, """
            {"event_id": "e-9", "timestamp": 0, "feedback": {"comparison": {"chosen": "a", "rejected": "b"}}}"""
            .getBytes(StandardCharsets.UTF_8));

        DeadLetter letter = h.readDlq().getFirst();
        assertThat(letter.getReason()).isEqualTo(DeadLetterReason.MISSING_FIELD);
        assertThat(letter.getEventId()).isEqualTo("e-9");
        assertThat(letter.getMessage()).contains("prompt");
      }
    }
  }

  @Nested
  class Validation {
    private DeadLetter rejectOne(PreferenceEvent event) {
      try (Harness h = Harness.create(b -> b.maxPromptChars(10).maxResponseChars(5).batchSize(1))) {
        h.send(event);
        assertThat(h.readBatches()).as("an invalid event never reaches training").isEmpty();
        List<DeadLetter> dead = h.readDlq();
        assertThat(dead).hasSize(1);
        assertThat(h.metrics.invalidCount(dead.getFirst().getReason())).isEqualTo(1);
        return dead.getFirst();
      }
    }

    @Test
    void blankPromptIsBlankText() {
      DeadLetter l = rejectOne(comparison("e", "  \n", "a", "b", T0));
      assertThat(l.getReason()).isEqualTo(DeadLetterReason.BLANK_TEXT);
      assertThat(l.getMessage()).contains("prompt");
      assertThat(l.getEventId()).isEqualTo("e");
    }

    @Test
    void blankThumbResponseIsBlankText() {
      assertThat(rejectOne(thumb("e", "p", " ", Rating.UP, T0)).getReason()).isEqualTo(DeadLetterReason.BLANK_TEXT);
    }

    @Test
    void promptOverTheLimitIsTooLong() {
      DeadLetter l = rejectOne(comparison("e", "12345678901", "a", "b", T0));
      assertThat(l.getReason()).isEqualTo(DeadLetterReason.TOO_LONG);
      assertThat(l.getMessage()).contains("11 characters").contains("at most 10");
    }

    @Test
    void responseOverTheLimitIsTooLongCountingCodePointsNotUtf16Units() {
      // Five emoji are ten UTF-16 units but five characters: accepted at a limit of 5.
      try (Harness h = Harness.create(b -> b.maxResponseChars(5).batchSize(1))) {
        h.send(comparison("e", "p", "😀😀😀😀😀", "b", T0));
        assertThat(h.readDlq()).isEmpty();
      }
      assertThat(rejectOne(comparison("e", "p", "abcdef", "b", T0)).getReason()).isEqualTo(DeadLetterReason.TOO_LONG);
    }

    @Test
    void chosenEqualToRejectedUpToSurroundingSpaceIsRefused() {
      assertThat(rejectOne(comparison("e", "p", "same", " same", T0)).getReason())
          .isEqualTo(DeadLetterReason.SAME_CHOSEN_REJECTED);
    }

    @Test
    void malformedPolicyIdIsBadPolicyIdAndTheDeadLetterIsNotKeyedByIt() {
      try (Harness h = Harness.create(b -> b)) {
        h.send(event("e", "no spaces allowed", "p", new Comparison("a", "b"), T0));
        var record = h.dlq.readRecord();
        assertThat(record.value().getReason()).isEqualTo(DeadLetterReason.BAD_POLICY_ID);
        assertThat(record.key()).isNull();
      }
    }

    @Test
    void timestampBeyondTheClockSkewIsFutureTimestamp() {
      // The default tolerance is 5 minutes: 4 minutes ahead passes, 6 minutes does not.
      try (Harness h = Harness.create(b -> b.batchSize(1))) {
        h.send(comparison("ok", "p", "a", "b", T0.plus(Duration.ofMinutes(4))));
        assertThat(h.readBatches()).hasSize(1);
      }
      DeadLetter l = rejectOne(comparison("e", "p", "a", "b", T0.plus(Duration.ofMinutes(6))));
      assertThat(l.getReason()).isEqualTo(DeadLetterReason.FUTURE_TIMESTAMP);
    }

    @Test
    void blankEventIdIsMissingField() {
      assertThat(rejectOne(comparison(" ", "p", "a", "b", T0)).getReason()).isEqualTo(DeadLetterReason.MISSING_FIELD);
    }
  }

  @Nested
  class Deduplication {
    @Test
    void aReSentEventCountsOnce() {
      try (Harness h = Harness.create(b -> b.batchSize(10))) {
        // The same comparison arrives three times (producer retries), then another one.
        PreferenceEvent e = comparison("e-1", "p", "a", "b", T0);
        h.send(e);
        h.advance(Duration.ofSeconds(1));
        h.send(e);
        h.sendJson(e);
        h.send(comparison("e-2", "p", "c", "d", T0));
        h.advance(Duration.ofSeconds(2));

        // One batch with two pairs; the two copies are counted as duplicates.
        MicroBatch batch = h.readBatches().getFirst();
        assertThat(batch.getPairs()).extracting(p -> p.getSourceEventIds().getFirst()).containsExactly("e-1", "e-2");
        assertThat(h.metrics.duplicates()).isEqualTo(2);
      }
    }

    @Test
    void anIdIsForgottenAfterTheRetention() {
      try (Harness h = Harness.create(b -> b.batchSize(1).dedupRetention(Duration.ofMinutes(1)))) {
        // Stream time is the record time: the copy comes long after the retention, so it counts again.
        h.send(comparison("e-1", "p", "a", "b", T0));
        h.advance(Duration.ofMinutes(10));
        h.send(comparison("later", "q", "a", "b", h.now()));
        h.advance(Duration.ofMinutes(10));
        h.send(comparison("e-1", "p", "a", "b", T0));

        assertThat(h.readBatches()).hasSize(3);
        assertThat(h.metrics.duplicates()).isZero();
      }
    }
  }

  @Nested
  class Pairing {
    @Test
    void aComparisonIsAPairAtOnce() {
      try (Harness h = Harness.create(b -> b.batchSize(1))) {
        PreferenceEvent e = PreferenceEvent.newBuilder(comparison("e-1", "Explain DPO", "direct", "rl", T0))
            .setPolicyVersion(7L).build();
        h.send(e);

        PreferencePair pair = h.readBatches().getFirst().getPairs().getFirst();
        assertThat(pair).isEqualTo(new PreferencePair("Explain DPO", "direct", "rl", List.of("e-1"), 7L, null));
      }
    }

    @Test
    void upAndDownThumbsOnOnePromptBecomePairsEachUpTimesEachDown() {
      try (Harness h = Harness.create(b -> b.batchSize(100).pairingWindow(Duration.ofSeconds(30)))) {
        // Two UPs and two DOWNs on one prompt, from different users, within the window.
        h.send(thumb("u1", "p", "good one", Rating.UP, T0));
        h.send(thumb("d1", "p", "bad one", Rating.DOWN, T0.plusSeconds(1)));
        h.send(thumb("u2", "p", "good two", Rating.UP, T0.plusSeconds(2)));
        h.send(thumb("d2", "p", "bad two", Rating.DOWN, T0.plusSeconds(3)));
        // Close the window and let the batch age out.
        h.advance(Duration.ofSeconds(31));
        h.advance(Duration.ofSeconds(3));

        // 2 × 2 = 4 pairs, chosen = the UP text, and no unpaired example.
        MicroBatch batch = h.readBatches().getFirst();
        assertThat(batch.getPairs()).extracting(PreferencePair::getChosen, PreferencePair::getRejected)
            .containsExactlyInAnyOrder(
                org.assertj.core.groups.Tuple.tuple("good one", "bad one"),
                org.assertj.core.groups.Tuple.tuple("good two", "bad one"),
                org.assertj.core.groups.Tuple.tuple("good one", "bad two"),
                org.assertj.core.groups.Tuple.tuple("good two", "bad two"));
        assertThat(batch.getPairs().getFirst().getSourceEventIds()).containsExactly("u1", "d1");
        assertThat(batch.getUnpaired()).isEmpty();
        assertThat(batch.getEventTimeStart()).isEqualTo(T0);
        assertThat(batch.getEventTimeEnd()).isEqualTo(T0.plusSeconds(3));
      }
    }

    @Test
    void pairsPerPromptAreCappedAndThumbsLeftOutBecomeUnpaired() {
      try (Harness h = Harness.create(b -> b.batchSize(100).maxPairsPerPrompt(2))) {
        // One DOWN, then three UPs: three pairs are possible, the cap allows two.
        h.send(thumb("d", "p", "bad", Rating.DOWN, T0));
        h.send(thumb("u1", "p", "good 1", Rating.UP, T0));
        h.send(thumb("u2", "p", "good 2", Rating.UP, T0));
        h.send(thumb("u3", "p", "good 3", Rating.UP, T0));
        h.advance(Duration.ofSeconds(31));
        h.advance(Duration.ofSeconds(3));

        // (The pairs' batch ages out in the same clock step that closes the window, so the unpaired
        // example may travel in the next batch.)
        List<MicroBatch> batches = h.readBatches();
        assertThat(batches).flatExtracting(MicroBatch::getPairs).extracting(p -> p.getSourceEventIds().getFirst())
            .containsExactly("u1", "u2");
        assertThat(batches).flatExtracting(MicroBatch::getUnpaired).extracting(UnpairedExample::getSourceEventId)
            .containsExactly("u3");
        assertThat(h.metrics.pairs()).isEqualTo(2);
      }
    }

    @Test
    void thumbsUnpairedAtWindowCloseBecomeKtoExamples() {
      try (Harness h = Harness.create(b -> b.batchSize(100).pairingWindow(Duration.ofSeconds(10)))) {
        // An UP and a DOWN on different prompts never meet.
        h.send(thumb("u", "prompt A", "nice", Rating.UP, T0));
        h.send(thumb("d", "prompt B", "meh", Rating.DOWN, T0));
        // Before the window closes nothing is emitted.
        h.advance(Duration.ofSeconds(9));
        h.advance(Duration.ofSeconds(3));
        assertThat(h.readBatches()).isEmpty();
        // After it closes, and the batch ages out, both are unpaired examples.
        h.advance(Duration.ofSeconds(2));
        h.advance(Duration.ofSeconds(3));

        MicroBatch batch = h.readBatches().getFirst();
        assertThat(batch.getPairs()).isEmpty();
        assertThat(batch.getUnpaired()).containsExactlyInAnyOrder(
            new UnpairedExample("prompt A", "nice", true, "u", null, null),
            new UnpairedExample("prompt B", "meh", false, "d", null, null));
        assertThat(h.metrics.unpairedKeptCount()).isEqualTo(2);
      }
    }

    @Test
    void withTheDropPolicyUnpairedThumbsAreCountedAndDropped() {
      try (Harness h = Harness.create(b -> b.unpairedPolicy(UnpairedPolicy.DROP).pairingWindow(Duration.ofSeconds(5)))) {
        h.send(thumb("u", "p", "nice", Rating.UP, T0));
        h.advance(Duration.ofSeconds(10));
        h.advance(Duration.ofSeconds(3));

        assertThat(h.readBatches()).isEmpty();
        assertThat(h.metrics.unpairedDroppedCount()).isEqualTo(1);
      }
    }

    @Test
    void aThumbAfterTheWindowClosedOpensANewWindow() {
      try (Harness h = Harness.create(b -> b.batchSize(100).pairingWindow(Duration.ofSeconds(5)))) {
        h.send(thumb("u", "p", "nice", Rating.UP, T0));
        h.advance(Duration.ofSeconds(6));
        h.send(thumb("d", "p", "meh", Rating.DOWN, h.now()));
        h.advance(Duration.ofSeconds(6));
        h.advance(Duration.ofSeconds(3));

        List<MicroBatch> batches = h.readBatches();
        assertThat(batches).flatExtracting(MicroBatch::getPairs).isEmpty();
        assertThat(batches).flatExtracting(MicroBatch::getUnpaired).extracting(UnpairedExample::getSourceEventId)
            .containsExactlyInAnyOrder("u", "d");
      }
    }

    @Test
    void anUpAndADownOnTheSameTextAreNotAPair() {
      try (Harness h = Harness.create(b -> b.batchSize(100).pairingWindow(Duration.ofSeconds(5)))) {
        h.send(thumb("u", "p", "same", Rating.UP, T0));
        h.send(thumb("d", "p", "same ", Rating.DOWN, T0));
        h.advance(Duration.ofSeconds(6));
        h.advance(Duration.ofSeconds(3));

        MicroBatch batch = h.readBatches().getFirst();
        assertThat(batch.getPairs()).isEmpty();
        assertThat(batch.getUnpaired()).hasSize(2);
      }
    }

    @Test
    void thumbsOfDifferentPoliciesOnTheSamePromptDoNotMeet() {
      try (Harness h = Harness.create(b -> b.batchSize(1).pairingWindow(Duration.ofSeconds(5)))) {
        h.send(event("u", "alpha", "p", new Thumb("x", Rating.UP), T0));
        h.send(event("d", "beta", "p", new Thumb("y", Rating.DOWN), T0));
        h.advance(Duration.ofSeconds(6));

        assertThat(h.batches.readKeyValuesToList()).extracting(kv -> kv.key, kv -> kv.value.getUnpaired().size())
            .containsExactlyInAnyOrder(org.assertj.core.groups.Tuple.tuple("alpha", 1),
                org.assertj.core.groups.Tuple.tuple("beta", 1));
      }
    }
  }

  /** Events on chat replies carry their conversation ({@code prompt_messages}); the prompt is its rendered text. */
  @Nested
  class ChatEvents {
    static final String RENDERED = "<|bos|>User: Where is my order?\nAssistant:";
    static final List<ChatMessage> CONVERSATION = List.of(new ChatMessage("user", "Where is my order?"));

    PreferenceEvent chat(PreferenceEvent e, List<ChatMessage> messages) {
      return PreferenceEvent.newBuilder(e).setPromptMessages(messages).build();
    }

    @Test
    void aChatComparisonBecomesAPairCarryingTheConversation() {
      try (Harness h = Harness.create(b -> b.batchSize(1))) {
        h.sendJson(chat(comparison("c-1", RENDERED, "It ships today.", "No idea.", T0), CONVERSATION));

        PreferencePair pair = h.readBatches().getFirst().getPairs().getFirst();
        assertThat(pair).isEqualTo(new PreferencePair(RENDERED, "It ships today.", "No idea.", List.of("c-1"), null,
            CONVERSATION));
      }
    }

    @Test
    void chatThumbsPairOnlyWithThumbsOnTheSameConversationAndUnpairedOnesKeepIt() {
      try (Harness h = Harness.create(b -> b.batchSize(100).pairingWindow(Duration.ofSeconds(10)))) {
        // Same rendered prompt (same key, same window), but one DOWN came as plain text and one from
        // another conversation: neither may pair with the chat UP, which would train it on a prompt
        // other than the one its reply answered.
        h.send(chat(thumb("up", RENDERED, "It ships today.", Rating.UP, T0), CONVERSATION));
        h.send(thumb("text-down", RENDERED, "Ask later.", Rating.DOWN, T0));
        h.send(chat(thumb("other-down", RENDERED, "Maybe.", Rating.DOWN, T0),
            List.of(new ChatMessage("user", "Where is my order?"), new ChatMessage("assistant", "Which one?"),
                new ChatMessage("user", "Where is my order?"))));
        h.send(chat(thumb("down", RENDERED, "No idea.", Rating.DOWN, T0), CONVERSATION));
        h.advance(Duration.ofSeconds(11));
        h.advance(Duration.ofSeconds(3));

        List<MicroBatch> batches = h.readBatches();
        assertThat(batches).flatExtracting(MicroBatch::getPairs).singleElement().satisfies(p -> {
          assertThat(p.getSourceEventIds()).containsExactly("up", "down");
          assertThat(p.getPromptMessages()).isEqualTo(CONVERSATION);
          assertThat(p.getPrompt()).isEqualTo(RENDERED);
        });
        List<UnpairedExample> unpaired = batches.stream().flatMap(b -> b.getUnpaired().stream()).toList();
        assertThat(unpaired).extracting(UnpairedExample::getSourceEventId).containsExactlyInAnyOrder("text-down", "other-down");
        assertThat(unpaired).filteredOn(u -> u.getSourceEventId().equals("text-down")).singleElement()
            .satisfies(u -> assertThat(u.getPromptMessages()).isNull());
        assertThat(unpaired).filteredOn(u -> u.getSourceEventId().equals("other-down")).singleElement()
            .satisfies(u -> assertThat(u.getPromptMessages()).hasSize(3));
      }
    }

    @Test
    void anEmptyConversationIsDeadLettered() {
      try (Harness h = Harness.create(b -> b.batchSize(1))) {
        h.send(chat(comparison("c-2", RENDERED, "a", "b", T0), List.of()));
        h.send(chat(comparison("c-3", RENDERED, "a", "b", T0), List.of(new ChatMessage(" ", "hi"))));

        assertThat(h.readBatches()).isEmpty();
        assertThat(h.readDlq()).extracting(DeadLetter::getReason, DeadLetter::getMessage).containsExactly(
            org.assertj.core.groups.Tuple.tuple(DeadLetterReason.MISSING_FIELD,
                "prompt_messages is an empty list; expected at least one message, or null for a text prompt"),
            org.assertj.core.groups.Tuple.tuple(DeadLetterReason.BLANK_TEXT,
                "prompt_messages[0].role is blank; expected a role such as \"user\""));
      }
    }
  }

  @Nested
  class HoldOutToEval {
    @Test
    void heldOutPairsGoToEvalAndNeverToTraining() {
      try (Harness h = Harness.create(b -> b.evalShare(0.3).batchSize(1000))) {
        // 200 distinct comparisons.
        for (int i = 0; i < 200; i++) h.send(comparison("e" + i, "prompt " + i, "good " + i, "bad " + i, T0));
        h.advance(Duration.ofSeconds(3));

        List<PreferencePair> train = h.readBatches().stream().flatMap(b -> b.getPairs().stream()).toList();
        List<MicroBatch> evalBatches = h.readEval();
        List<PreferencePair> eval = evalBatches.stream().flatMap(b -> b.getPairs().stream()).toList();
        // Every pair is on exactly one side, chosen by the hash of its texts.
        assertThat(train.size() + eval.size()).isEqualTo(200);
        assertThat(train).noneMatch(eval::contains);
        HoldOut rule = new HoldOut(0.3);
        assertThat(eval).allMatch(p -> rule.isHeldOut(p.getPrompt(), p.getChosen(), p.getRejected()));
        assertThat(train).noneMatch(p -> rule.isHeldOut(p.getPrompt(), p.getChosen(), p.getRejected()));
        // Roughly the share (binomial, n = 200, p = 0.3: 4 sd is ±26).
        assertThat(eval.size()).isBetween(34, 86);
        assertThat(evalBatches).allSatisfy(b -> assertThat(b.getUnpaired()).isEmpty());
        assertThat(h.metrics.heldOut()).isEqualTo(eval.size());
      }
    }

    @Test
    void theSamePairVotedTwiceLandsOnTheSameSide() {
      try (Harness h = Harness.create(b -> b.evalShare(0.5).batchSize(1))) {
        for (int i = 0; i < 20; i++) {
          h.send(comparison("a" + i, "p" + i, "x", "y", T0));
          h.send(comparison("b" + i, "p" + i, "x", "y", T0));
        }
        List<MicroBatch> eval = h.readEval();
        List<MicroBatch> train = h.readBatches();
        assertThat(eval.size() % 2).isZero();
        assertThat(train.size() % 2).isZero();
        assertThat(eval.size() + train.size()).isEqualTo(40);
      }
    }
  }

  @Nested
  class Batching {
    @Test
    void aBatchIsEmittedWhenItHoldsNItems() {
      try (Harness h = Harness.create(b -> b.batchSize(3))) {
        for (int i = 0; i < 7; i++) h.send(comparison("e" + i, "p" + i, "a", "b", T0.plusMillis(i)));

        // Two full batches at once; the seventh pair waits for more items or for its age.
        List<MicroBatch> batches = h.readBatches();
        assertThat(batches).extracting(b -> b.getPairs().size()).containsExactly(3, 3);
        assertThat(batches).extracting(MicroBatch::getSequence).containsExactly(0L, 1L);
        assertThat(batches.get(1).getEventTimeStart()).isEqualTo(T0.plusMillis(3));
        assertThat(batches.get(1).getEventTimeEnd()).isEqualTo(T0.plusMillis(5));
      }
    }

    @Test
    void aBatchIsEmittedWhenItsOldestItemIsTOld() {
      try (Harness h = Harness.create(b -> b.batchSize(32).batchMaxAge(Duration.ofSeconds(2)))) {
        h.send(comparison("e1", "p1", "a", "b", T0));
        h.advance(Duration.ofMillis(1500));
        h.send(comparison("e2", "p2", "a", "b", h.now()));
        // 1.9 s after the first item: not yet.
        h.advance(Duration.ofMillis(400));
        assertThat(h.readBatches()).isEmpty();
        // 2 s after the first item, both items leave together.
        h.advance(Duration.ofMillis(150));
        MicroBatch batch = h.readBatches().getFirst();
        assertThat(batch.getPairs()).hasSize(2);
        assertThat(batch.getCreatedAt()).isBetween(T0.plusMillis(2000), T0.plusMillis(2100));
        assertThat(h.metrics.batchFillCount()).isEqualTo(1);
      }
    }

    @Test
    void anItemsAgeCountsFromItsPublicationNotFromItsArrival() {
      try (Harness h = Harness.create(b -> b.batchSize(32).batchMaxAge(Duration.ofSeconds(2)))) {
        // Published 1.5 s ago (its record time) but read only now, as after a backlog upstream.
        byte[] value = new io.prefstream.schemas.serde.PreferenceEventSerializer(
            io.prefstream.schemas.serde.Encoding.SINGLE_OBJECT).serialize(Topics.EVENTS, comparison("e", "p", "a", "b", T0));
        h.events.pipeInput(new org.apache.kafka.streams.test.TestRecord<>(null, value, h.now().minusMillis(1500)));
        // 1.9 s after publication: not yet; 2.05 s: out.
        h.advance(Duration.ofMillis(400));
        assertThat(h.readBatches()).isEmpty();
        h.advance(Duration.ofMillis(150));
        assertThat(h.readBatches()).hasSize(1);
      }
    }

    @Test
    void sequencesAreMonotonicPerPolicyAndBatchIdsNameThem() {
      try (Harness h = Harness.create(b -> b.batchSize(1))) {
        h.send(event("1", "alpha", "p", new Comparison("a", "b"), T0));
        h.send(event("2", "beta", "p", new Comparison("a", "b"), T0));
        h.send(event("3", "alpha", "q", new Comparison("a", "b"), T0));

        var records = h.batches.readKeyValuesToList();
        assertThat(records).extracting(kv -> kv.key, kv -> kv.value.getSequence(), kv -> kv.value.getBatchId())
            .containsExactly(
                org.assertj.core.groups.Tuple.tuple("alpha", 0L, "prefstream-ingest/alpha/train/0"),
                org.assertj.core.groups.Tuple.tuple("beta", 0L, "prefstream-ingest/beta/train/0"),
                org.assertj.core.groups.Tuple.tuple("alpha", 1L, "prefstream-ingest/alpha/train/1"));
        assertThat(records).allSatisfy(kv -> assertThat(kv.value.getPolicyId()).isEqualTo(kv.key));
      }
    }

    @Test
    void pairsAndUnpairedExamplesShareABatch() {
      try (Harness h = Harness.create(b -> b.batchSize(2).pairingWindow(Duration.ofSeconds(1)))) {
        h.send(thumb("t", "p", "lonely", Rating.UP, T0));
        h.advance(Duration.ofSeconds(2));
        h.send(comparison("c", "q", "a", "b", h.now()));

        MicroBatch batch = h.readBatches().getFirst();
        assertThat(batch.getUnpaired()).hasSize(1);
        assertThat(batch.getPairs()).hasSize(1);
      }
    }
  }
}
