package io.prefstream.ingest.topology;

import static io.prefstream.ingest.topology.Harness.event;
import static org.assertj.core.api.Assertions.assertThat;

import io.prefstream.ingest.config.UnpairedPolicy;
import io.prefstream.schemas.avro.Comparison;
import io.prefstream.schemas.avro.DeadLetter;
import io.prefstream.schemas.avro.DeadLetterReason;
import io.prefstream.schemas.avro.MicroBatch;
import io.prefstream.schemas.avro.PreferenceEvent;
import io.prefstream.schemas.avro.PreferencePair;
import io.prefstream.schemas.avro.Rating;
import io.prefstream.schemas.avro.Thumb;
import io.prefstream.schemas.avro.UnpairedExample;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;

/**
 * Conservation: whatever the stream, nothing is lost and nothing is counted twice. For random
 * streams of comparisons, thumbs, invalid events, garbage and re-sent events, with the wall clock
 * moving at random in between, and random batch size, pair cap and unpaired policy:
 *
 * <ul>
 *   <li>every invalid record is in the dead-letter topic once, in order, with its reason;
 *   <li>every re-send of a valid event is in the duplicate count, and nowhere else;
 *   <li>every valid comparison is in exactly one pair, on the training or the eval topic;
 *   <li>every valid thumb is in at least one pair, or else in exactly one unpaired example (KTO),
 *       or in the dropped count (DROP), and never both paired and unpaired;
 *   <li>held-out pairs are exactly those the hash selects, and sequences run 0, 1, 2 … per policy
 *       and topic.
 * </ul>
 */
class ConservationPropertyTest {
  private static final String[] PROMPTS = {"p0", "p1", "p2"};
  private static final String[] POLICIES = {"default", "beta"};
  private static final String[] RESPONSES = {"r0", "r1", "r2", "r3"};
  private static final double EVAL_SHARE = 0.25;

  /** One step of a random stream. */
  enum Kind { COMPARISON, THUMB, RESEND, INVALID, GARBAGE }

  record Op(Kind kind, int a, int b, int c, int advanceMs) {}

  @Provide
  Arbitrary<List<Op>> streams() {
    Arbitrary<Kind> kinds = Arbitraries.frequencyOf(
        net.jqwik.api.Tuple.of(3, Arbitraries.just(Kind.COMPARISON)),
        net.jqwik.api.Tuple.of(6, Arbitraries.just(Kind.THUMB)),
        net.jqwik.api.Tuple.of(2, Arbitraries.just(Kind.RESEND)),
        net.jqwik.api.Tuple.of(1, Arbitraries.just(Kind.INVALID)),
        net.jqwik.api.Tuple.of(1, Arbitraries.just(Kind.GARBAGE)));
    Arbitrary<Integer> small = Arbitraries.integers().between(0, 11);
    Arbitrary<Integer> advance = Arbitraries.integers().between(0, 3000);
    Arbitrary<Op> op = Combinators.combine(kinds, small, small, small, advance).as(Op::new);
    return op.list().ofMinSize(1).ofMaxSize(60);
  }

  @Property(tries = 25)
  void everyEventEndsUpExactlyWhereItShould(
      @ForAll("streams") List<Op> ops,
      @ForAll @IntRange(min = 1, max = 6) int batchSize,
      @ForAll @IntRange(min = 1, max = 4) int maxPairs,
      @ForAll boolean drop) {
    UnpairedPolicy policy = drop ? UnpairedPolicy.DROP : UnpairedPolicy.KTO;
    try (Harness h = Harness.create(b -> b.batchSize(batchSize).maxPairsPerPrompt(maxPairs).unpairedPolicy(policy)
        .evalShare(EVAL_SHARE).pairingWindow(Duration.ofSeconds(5)).batchMaxAge(Duration.ofSeconds(2)))) {
      List<DeadLetterReason> expectedDead = new ArrayList<>();
      Map<String, PreferenceEvent> valid = new LinkedHashMap<>();
      int resends = 0;
      int sent = 0;
      int n = 0;
      for (Op op : ops) {
        String id = "e" + n++;
        switch (op.kind()) {
          case COMPARISON -> {
            String chosen = RESPONSES[op.b() % RESPONSES.length];
            String rejected = RESPONSES[(op.b() + 1 + op.c() % (RESPONSES.length - 1)) % RESPONSES.length];
            PreferenceEvent e = event(id, POLICIES[op.a() % 2], PROMPTS[op.a() % 3], new Comparison(chosen, rejected), h.now());
            send(h, e, op.c() % 2 == 0);
            valid.put(id, e);
          }
          case THUMB -> {
            Rating rating = op.c() % 2 == 0 ? Rating.UP : Rating.DOWN;
            PreferenceEvent e = event(id, POLICIES[op.a() % 2], PROMPTS[op.a() % 3],
                new Thumb(RESPONSES[op.b() % RESPONSES.length], rating), h.now());
            send(h, e, op.a() % 2 == 0);
            valid.put(id, e);
          }
          case RESEND -> {
            if (valid.isEmpty()) continue;
            List<PreferenceEvent> seen = new ArrayList<>(valid.values());
            send(h, seen.get(op.a() * 7 % seen.size()), op.b() % 2 == 0);
            resends++;
          }
          case INVALID -> {
            DeadLetterReason reason = switch (op.a() % 4) {
              case 0 -> { h.send(event(id, "default", " ", new Thumb("x", Rating.UP), h.now())); yield DeadLetterReason.BLANK_TEXT; }
              case 1 -> { h.send(event(id, "default", "p0", new Comparison("same", "same"), h.now())); yield DeadLetterReason.SAME_CHOSEN_REJECTED; }
              case 2 -> { h.send(event(id, "bad policy!", "p0", new Thumb("x", Rating.UP), h.now())); yield DeadLetterReason.BAD_POLICY_ID; }
              default -> { h.send(event(id, "default", "p0", new Thumb("x", Rating.UP), h.now().plus(Duration.ofDays(1)))); yield DeadLetterReason.FUTURE_TIMESTAMP; }
            };
            expectedDead.add(reason);
          }
          case GARBAGE -> {
            h.sendBytes(null, ("garbage " + op.a()).getBytes(StandardCharsets.UTF_8));
            expectedDead.add(DeadLetterReason.UNPARSEABLE);
          }
        }
        sent++;
        if (op.advanceMs() > 0) h.advance(Duration.ofMillis(op.advanceMs()));
      }
      // Let every window close and every batch age out.
      h.advance(Duration.ofSeconds(6));
      h.advance(Duration.ofSeconds(3));

      List<MicroBatch> train = h.readBatches();
      List<MicroBatch> eval = h.readEval();
      List<DeadLetter> dead = h.readDlq();

      assertThat(h.metrics.eventsIn()).isEqualTo(sent);
      assertThat(dead).extracting(DeadLetter::getReason).containsExactlyElementsOf(expectedDead);
      assertThat(h.metrics.duplicates()).isEqualTo(resends);

      HoldOut rule = new HoldOut(EVAL_SHARE);
      Map<String, Integer> pairsPerEvent = new HashMap<>();
      for (MicroBatch b : train) {
        for (PreferencePair p : b.getPairs()) {
          assertThat(rule.isHeldOut(p.getPrompt(), p.getChosen(), p.getRejected())).as("training pair held out").isFalse();
          p.getSourceEventIds().forEach(id -> pairsPerEvent.merge(id, 1, Integer::sum));
        }
      }
      for (MicroBatch b : eval) {
        assertThat(b.getUnpaired()).isEmpty();
        for (PreferencePair p : b.getPairs()) {
          assertThat(rule.isHeldOut(p.getPrompt(), p.getChosen(), p.getRejected())).as("eval pair not held out").isTrue();
          p.getSourceEventIds().forEach(id -> pairsPerEvent.merge(id, 1, Integer::sum));
        }
      }
      Map<String, Integer> unpairedPerEvent = new HashMap<>();
      for (MicroBatch b : train) {
        for (UnpairedExample u : b.getUnpaired()) unpairedPerEvent.merge(u.getSourceEventId(), 1, Integer::sum);
      }

      assertThat(valid.keySet()).containsAll(pairsPerEvent.keySet()).containsAll(unpairedPerEvent.keySet());
      int unpairedThumbs = 0;
      for (var entry : valid.entrySet()) {
        String id = entry.getKey();
        int pairs = pairsPerEvent.getOrDefault(id, 0);
        int unpaired = unpairedPerEvent.getOrDefault(id, 0);
        if (entry.getValue().getFeedback() instanceof Comparison) {
          assertThat(pairs).as("pairs holding comparison %s", id).isEqualTo(1);
          assertThat(unpaired).isZero();
        } else if (pairs > 0) {
          assertThat(unpaired).as("thumb %s is paired, so not unpaired", id).isZero();
        } else {
          unpairedThumbs++;
          assertThat(unpaired).as("unpaired examples of thumb %s", id).isEqualTo(drop ? 0 : 1);
        }
      }
      assertThat(drop ? h.metrics.unpairedDroppedCount() : h.metrics.unpairedKeptCount()).isEqualTo(unpairedThumbs);

      assertSequences("batches", train);
      assertSequences("eval", eval);
      Set<String> ids = new HashSet<>();
      for (MicroBatch b : train) assertThat(ids.add(b.getBatchId())).isTrue();
      for (MicroBatch b : eval) assertThat(ids.add(b.getBatchId())).isTrue();
    }
  }

  private static void send(Harness h, PreferenceEvent e, boolean asJson) {
    if (asJson) h.sendJson(e);
    else h.send(e);
  }

  private static void assertSequences(String topic, List<MicroBatch> batches) {
    Map<String, Long> next = new HashMap<>();
    for (MicroBatch b : batches) {
      long expected = next.getOrDefault(b.getPolicyId(), 0L);
      assertThat(b.getSequence()).as("sequence of %s on %s", b.getBatchId(), topic).isEqualTo(expected);
      assertThat(b.getPairs().size() + b.getUnpaired().size()).isPositive();
      next.put(b.getPolicyId(), expected + 1);
    }
  }
}
