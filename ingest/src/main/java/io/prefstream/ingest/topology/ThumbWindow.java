package io.prefstream.ingest.topology;

import io.prefstream.schemas.avro.ChatMessage;
import java.util.List;

/**
 * The thumbs one prompt of one policy has received in its open pairing window, the state the
 * pairing step keeps per {@link PromptKey}. The window opened (wall-clock) at the first thumb and
 * closes at {@code closeAt}; {@code pairsMade} counts towards the per-prompt cap. A thumb is marked
 * {@code paired} once it is part of at least one pair, so at close only the others become unpaired
 * examples. A thumb on a chat reply keeps its conversation ({@code promptMessages}, null for a text
 * prompt): {@code prompt} is then the conversation's rendered text.
 */
record ThumbWindow(String policyId, String prompt, long closeAt, int pairsMade, List<Thumb> thumbs) {
  ThumbWindow {
    thumbs = List.copyOf(thumbs);
  }

  /** One thumb waiting in the window. */
  record Thumb(String eventId, String response, boolean up, Long policyVersion, long eventTime, boolean paired,
      List<ChatMessage> promptMessages) {
    Thumb {
      promptMessages = promptMessages == null ? null : List.copyOf(promptMessages);
    }

    Thumb markPaired() {
      return paired ? this : new Thumb(eventId, response, up, policyVersion, eventTime, true, promptMessages);
    }
  }
}
