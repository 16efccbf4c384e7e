package io.prefstream.learner.trainer;

import io.prefstream.model.text.ChatMessage;
import io.prefstream.model.text.Content;
import io.prefstream.schemas.avro.MicroBatch;
import io.prefstream.schemas.avro.PreferencePair;
import io.prefstream.schemas.avro.UnpairedExample;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * The examples of one training step, as text: preference pairs (for the DPO-family objective) and
 * unpaired thumbs (for KTO), each with the policy version that produced it when known. Built from a
 * Kafka {@link MicroBatch} or from offline JSONL lines. {@code sources}: the ids of the feedback events
 * behind the examples (a micro-batch's pair sources and thumb event ids; none offline), so that a
 * caller can follow one piece of feedback into the step that learned it.
 */
public record TrainingBatch(String id, List<Pair> pairs, List<Thumb> thumbs, List<String> sources) {

  /**
   * A preference: {@code chosen} was preferred to {@code rejected} as an answer to {@code prompt}, in
   * TRL's standard (text) or conversational (messages) format; {@code SequenceEncoder} builds the tokens.
   */
  public record Pair(Content prompt, Content chosen, Content rejected, Long policyVersion) {
    public Pair {
      Objects.requireNonNull(prompt, "prompt");
      Objects.requireNonNull(chosen, "chosen");
      Objects.requireNonNull(rejected, "rejected");
    }

    /** Standard format: texts as they stand. */
    public Pair(String prompt, String chosen, String rejected, Long policyVersion) {
      this(Content.text(prompt), Content.text(chosen), Content.text(rejected), policyVersion);
    }
  }

  /** A thumb: {@code response} to {@code prompt} was liked ({@code desirable}) or not. */
  public record Thumb(Content prompt, Content response, boolean desirable, Long policyVersion) {
    public Thumb {
      Objects.requireNonNull(prompt, "prompt");
      Objects.requireNonNull(response, "response");
    }

    /** Standard format: texts as they stand. */
    public Thumb(String prompt, String response, boolean desirable, Long policyVersion) {
      this(Content.text(prompt), Content.text(response), desirable, policyVersion);
    }
  }

  public TrainingBatch {
    Objects.requireNonNull(id, "id");
    pairs = List.copyOf(pairs);
    thumbs = List.copyOf(thumbs);
    sources = List.copyOf(sources);
  }

  /** Examples without event ids (offline data). */
  public TrainingBatch(String id, List<Pair> pairs, List<Thumb> thumbs) {
    this(id, pairs, thumbs, List.of());
  }

  /**
   * The examples of a micro-batch from {@code prefstream.batches} (or {@code prefstream.eval}). An
   * example from a chat ({@code prompt_messages} present) is TRL's conversational format: the
   * conversation as the prompt and the reply as one assistant message, so the template renders them as
   * the reply was produced; otherwise the standard format, texts as they stand.
   */
  public static TrainingBatch of(MicroBatch batch) {
    List<Pair> pairs = new ArrayList<>();
    List<String> sources = new ArrayList<>();
    for (PreferencePair p : batch.getPairs()) {
      pairs.add(pair(p));
      sources.addAll(p.getSourceEventIds());
    }
    List<Thumb> thumbs = new ArrayList<>();
    for (UnpairedExample u : batch.getUnpaired()) {
      sources.add(u.getSourceEventId());
      List<io.prefstream.schemas.avro.ChatMessage> m = u.getPromptMessages();
      thumbs.add(m == null ? new Thumb(u.getPrompt(), u.getResponse(), u.getDesirable(), u.getPolicyVersion())
          : new Thumb(conversation(m), reply(u.getResponse()), u.getDesirable(), u.getPolicyVersion()));
    }
    return new TrainingBatch(batch.getBatchId(), pairs, thumbs, sources);
  }

  /** One pair of a micro-batch (or a lone pair on {@code prefstream.eval}), in the format it was produced in. */
  public static Pair pair(PreferencePair p) {
    List<io.prefstream.schemas.avro.ChatMessage> m = p.getPromptMessages();
    if (m == null) return new Pair(p.getPrompt(), p.getChosen(), p.getRejected(), p.getPolicyVersion());
    return new Pair(conversation(m), reply(p.getChosen()), reply(p.getRejected()), p.getPolicyVersion());
  }

  private static Content conversation(List<io.prefstream.schemas.avro.ChatMessage> messages) {
    List<ChatMessage> out = new ArrayList<>(messages.size());
    for (io.prefstream.schemas.avro.ChatMessage m : messages) out.add(new ChatMessage(m.getRole(), m.getContent()));
    return Content.messages(out);
  }

  private static Content reply(String text) {
    return Content.messages(List.of(ChatMessage.assistant(text)));
  }

  /** Pairs plus thumbs. */
  public int size() {
    return pairs.size() + thumbs.size();
  }
}
