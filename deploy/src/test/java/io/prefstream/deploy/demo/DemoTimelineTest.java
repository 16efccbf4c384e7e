package io.prefstream.deploy.demo;

import static org.assertj.core.api.Assertions.assertThat;

import io.prefstream.learner.trainer.TrainingBatch;
import io.prefstream.model.text.ChatMessage;
import io.prefstream.model.text.Content;
import io.prefstream.schemas.avro.MicroBatch;
import io.prefstream.schemas.avro.PreferencePair;
import io.prefstream.schemas.avro.UnpairedExample;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Freshness pairs feedback the users sent with the examples the learner trains on: a chat thumb or
 * comparison, recorded as the users send it (conversation, reply as an assistant message), is found
 * again in the micro-batch the ingest makes of it, as {@link TrainingBatch#of} reads it.
 */
class DemoTimelineTest {
  @Test
  void chatFeedbackIsRecognisedInTheBatchTheLearnerTrainsOn() {
    DemoTimeline timeline = new DemoTimeline();
    Content conversation = Content.messages(List.of(ChatMessage.user("Where is my order?")));
    timeline.thumbSent(conversation, Content.messages(List.of(ChatMessage.assistant("Soon."))));
    timeline.comparisonSent(conversation, Content.messages(List.of(ChatMessage.assistant("Today."))),
        Content.messages(List.of(ChatMessage.assistant("No idea."))));

    var messages = List.of(new io.prefstream.schemas.avro.ChatMessage("user", "Where is my order?"));
    MicroBatch mb = MicroBatch.newBuilder().setBatchId("b").setPolicyId("demo").setSequence(1)
        .setPairs(List.of(new PreferencePair("<|bos|>User: Where is my order?\nAssistant:", "Today.", "No idea.",
            List.of("e1"), 0L, messages)))
        .setUnpaired(List.of(new UnpairedExample("<|bos|>User: Where is my order?\nAssistant:", "Soon.", true, "e2", 0L,
            messages)))
        .setEventTimeStart(Instant.EPOCH).setEventTimeEnd(Instant.EPOCH).setCreatedAt(Instant.EPOCH).build();
    TrainingBatch batch = TrainingBatch.of(mb);
    List<Content[]> examples = new ArrayList<>();
    for (TrainingBatch.Pair p : batch.pairs()) {
      examples.add(new Content[] {p.prompt(), p.chosen()});
      examples.add(new Content[] {p.prompt(), p.rejected()});
    }
    for (TrainingBatch.Thumb t : batch.thumbs()) examples.add(new Content[] {t.prompt(), t.response()});

    timeline.learning(1, true, examples);
    timeline.swapped(1, 1);
    assertThat(timeline.freshnessMillis()).hasSize(3);
  }
}
