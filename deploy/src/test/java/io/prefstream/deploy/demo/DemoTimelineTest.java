package io.prefstream.deploy.demo;

import static org.assertj.core.api.Assertions.assertThat;

import io.prefstream.learner.trainer.TrainingBatch;
import io.prefstream.schemas.avro.MicroBatch;
import io.prefstream.schemas.avro.PreferencePair;
import io.prefstream.schemas.avro.UnpairedExample;
import io.prefstream.serving.fluency.ServedFluency;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Freshness pairs feedback the users sent with the examples the learner trains on: a chat thumb or
 * comparison, recorded as the users send it (conversation, reply as an assistant message), is found
 * again in the micro-batch the ingest makes of it, as {@link TrainingBatch#of} reads it.
 */
class DemoTimelineTest {
  private static DemoTimeline.Sample sample(long at, double nats, double tokens) {
    return new DemoTimeline.Sample(at, 0, 0, Double.NaN, Double.NaN, 0, 0, 0, 0, 0, Double.NaN, nats, tokens);
  }

  @Test
  void servedNllOfAWindowComesFromTheDifferenceOfTheRunningSums() {
    DemoTimeline timeline = new DemoTimeline();
    timeline.sample(sample(1_000, Double.NaN, Double.NaN)); // nothing scored yet: the metric is absent
    timeline.sample(sample(2_000, 20, 10));
    timeline.sample(sample(3_000, 50, 20));
    timeline.sample(sample(4_000, 110, 40));
    // From the start: all of it.
    assertThat(timeline.servedNll(0, 4_000)).isEqualTo(110.0 / 40);
    // The last two seconds: what was added after the sample at 2 s.
    assertThat(timeline.servedNll(2_500, 4_000)).isEqualTo((110.0 - 20) / (40 - 10));
    assertThat(timeline.servedNll(3_500, 4_000)).isEqualTo((110.0 - 50) / (40 - 20));
    assertThat(timeline.servedNll(5_000, 6_000)).isNaN();
  }

  @Test
  void theSingleReplyRateLeavesOutABCandidates() throws Exception {
    DemoTimeline timeline = new DemoTimeline();
    timeline.judged(0, true, "a", true);
    timeline.judged(0, false, "b", true);
    timeline.judged(0, true, "c", false); // an A/B candidate
    timeline.judged(0, true, "d", false);
    assertThat(timeline.singleRate(-1, timeline.now() + 1)).containsExactly(1, 2);
    assertThat(timeline.rate(-1, timeline.now() + 1)[1]).isEqualTo(4);
  }

  @Test
  void fluencyIsSplitByVerdictForTheBaseModelAndForATimeWindow() throws Exception {
    DemoTimeline timeline = new DemoTimeline();
    timeline.judged(0, true, "liked base", false, false, 6, 20);
    timeline.judged(0, false, "other base", false, true, 4, 20);
    timeline.judged(0, true, "a single reply: not scored", true);
    Thread.sleep(5);
    long split = timeline.now();
    Thread.sleep(5);
    timeline.judged(3, true, "liked later", false, false, 9, 30);
    timeline.judged(3, true, "liked later too", false, false, 3, 10);
    timeline.judged(4, false, "refused later", false, false, 2, 10);

    DemoTimeline.Fluency base = timeline.baseFluency();
    assertThat(base.liked()).isEqualTo(ServedFluency.Nll.of(6, 20));
    assertThat(base.disliked()).isEqualTo(ServedFluency.Nll.of(4, 20));
    DemoTimeline.Fluency later = timeline.fluency(split, timeline.now() + 1);
    assertThat(later.liked()).isEqualTo(ServedFluency.Nll.of(9, 30).plus(3, 10));
    assertThat(later.disliked()).isEqualTo(ServedFluency.Nll.of(2, 10));
    assertThat(later.all().perToken()).isEqualTo(14.0 / 50);
    assertThat(timeline.fluency(-1, split).all().replies()).isEqualTo(2);
  }

  @Test
  void feedbackIsFollowedByItsEventIdsIntoTheBatchTheLearnerTrainsOn() {
    DemoTimeline timeline = new DemoTimeline();
    timeline.thumbSent("e2");
    timeline.comparisonSent("e1");
    timeline.thumbSent("e-held-out");

    var messages = List.of(new io.prefstream.schemas.avro.ChatMessage("user", "Where is my order?"));
    MicroBatch mb = MicroBatch.newBuilder().setBatchId("b").setPolicyId("demo").setSequence(1)
        .setPairs(List.of(new PreferencePair("<|bos|>User: Where is my order?\nAssistant:", "Today.", "No idea.",
            List.of("e1"), 0L, messages)))
        .setUnpaired(List.of(new UnpairedExample("<|bos|>User: Where is my order?\nAssistant:", "Soon.", true, "e2", 0L,
            messages)))
        .setEventTimeStart(Instant.EPOCH).setEventTimeEnd(Instant.EPOCH).setCreatedAt(Instant.EPOCH).build();
    timeline.learning(1, true, TrainingBatch.of(mb).sources());
    timeline.swapped(1, 0); // trained before step 1: nothing of it yet
    assertThat(timeline.freshnessMillis()).isEmpty();
    timeline.swapped(2, 1);
    assertThat(timeline.freshnessMillis()).hasSize(2);
  }

  @Test
  void aReplySentAgainWaitsForItsOwnStepNotTheFirstSendings() throws Exception {
    DemoTimeline timeline = new DemoTimeline();
    timeline.thumbSent("first"); // the same reply text, twice: two events
    timeline.learning(1, false, List.of("first"));
    timeline.swapped(1, 1);
    Thread.sleep(300);
    timeline.thumbSent("again");
    timeline.learning(2, false, List.of("again"));
    timeline.swapped(2, 2);
    assertThat(timeline.freshnessMillis()).hasSize(2);
    assertThat(timeline.freshnessMillis().get(1)).isLessThan(250);
  }
}
