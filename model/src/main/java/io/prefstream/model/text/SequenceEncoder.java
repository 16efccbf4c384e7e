package io.prefstream.model.text;

import io.prefstream.model.llama.PromptResponse;
import io.prefstream.model.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one place where text becomes the token sequences that prefstream trains on, scores and
 * generates from (train, learn, score, sft, serving, the demo), built as TRL's trainers build them
 * from the same files (TRL's {@code DPOTrainer}/{@code KTOTrainer}/{@code SFTTrainer} tokenisation):
 *
 * <ul>
 *   <li><b>Standard format</b> (text): the completion gets the tokenizer's EOS text appended unless it
 *       already ends with it; {@code prompt} and {@code prompt + completion} are each tokenized with the
 *       tokenizer's own special tokens (so BOS appears exactly where the tokenizer adds one; a model
 *       whose tokenizer adds none gets none); the completion's ids are the joint ids after the prompt's
 *       length. No template, no stripping.
 *   <li><b>Conversational format</b> (messages): rendered with the model's chat template,
 *       {@code render(prompt, add_generation_prompt=true)} and {@code render(prompt + completion)}, both
 *       tokenized without added special tokens (the template writes BOS/EOS itself; their text maps to
 *       their ids); split as above. The completion must end with an assistant turn.
 *   <li><b>Lengths</b>: with {@code maxPromptLength > 0} a longer prompt keeps its end (and its leading
 *       BOS, if it has one); then the whole keeps its start within {@code maxLength} (TRL's default
 *       {@code truncation_mode="keep_start"}). A prompt that leaves no room for a completion token is
 *       refused (TRL drops such examples).
 * </ul>
 *
 * Generation uses {@link #promptIds}: the same prompt ids as training sees. Checked against
 * independent Hugging Face-style constructions in {@code SequenceEncoderTest} and end to end through
 * {@code prefstream score} in {@code ScoreMatchesHuggingFaceTest}.
 */
public final class SequenceEncoder {
  private static final Logger log = LoggerFactory.getLogger(SequenceEncoder.class);

  private final Tokenizer tokenizer;
  private final Optional<ChatTemplate> template;
  private final Optional<String> eosText;
  private final int maxLength;
  private final int maxPromptLength;
  private boolean warnedMismatch;

  /**
   * @param maxLength       tokens of prompt + completion at most (0: no limit)
   * @param maxPromptLength prompt tokens at most, keeping the end (0: no separate limit)
   * @param requireEos      refuse a tokenizer without an EOS token (training: the model must learn to stop)
   */
  public SequenceEncoder(Tokenizer tokenizer, int maxLength, int maxPromptLength, boolean requireEos) {
    this.tokenizer = tokenizer;
    this.eosText = tokenizer.eosText();
    if (requireEos && eosText.isEmpty()) {
      throw new IllegalArgumentException("the tokenizer has no EOS token (tokenizer_config.json / special_tokens_map.json"
          + " name no eos_token), so a trained reply could never end: add an eos_token to the tokenizer files");
    }
    if (maxLength < 0 || maxPromptLength < 0) throw new IllegalArgumentException("lengths must be >= 0");
    if (maxLength > 0 && maxPromptLength >= maxLength) {
      throw new IllegalArgumentException("max prompt length " + maxPromptLength + " must be less than the max length "
          + maxLength);
    }
    this.maxLength = maxLength;
    this.maxPromptLength = maxPromptLength;
    this.template = ChatTemplate.of(tokenizer.files());
  }

  /** No length limits; EOS not required (scoring and generation). */
  public static SequenceEncoder unlimited(Tokenizer tokenizer) {
    return new SequenceEncoder(tokenizer, 0, 0, false);
  }

  /** The model's chat template, when its tokenizer files have one. */
  public Optional<ChatTemplate> template() {
    return template;
  }

  public Tokenizer tokenizer() {
    return tokenizer;
  }

  /** The sequence to train on or score for one (prompt, completion); refusals say what is wrong. */
  public PromptResponse encode(Content prompt, Content completion) {
    int[] promptIds;
    int[] fullIds;
    switch (prompt) {
      case Content.Text p -> {
        if (!(completion instanceof Content.Text c)) {
          throw new IllegalArgumentException("the prompt is text but the completion is a list of messages;"
              + " use one format for both (TRL's standard or conversational)");
        }
        String completionText = c.text();
        if (eosText.isPresent() && !completionText.endsWith(eosText.get())) completionText += eosText.get();
        promptIds = tokenizer.encode(p.text(), true);
        fullIds = tokenizer.encode(p.text() + completionText, true);
      }
      case Content.Messages p -> {
        if (!(completion instanceof Content.Messages c)) {
          throw new IllegalArgumentException("the prompt is a list of messages but the completion is text;"
              + " use one format for both (TRL's standard or conversational)");
        }
        ChatMessage last = c.messages().getLast();
        if (!"assistant".equals(last.role())) {
          throw new IllegalArgumentException("the completion's last message has role '" + last.role()
              + "'; a completion must end with an assistant turn");
        }
        ChatTemplate t = requireTemplate();
        List<ChatMessage> all = new ArrayList<>(p.messages());
        all.addAll(c.messages());
        promptIds = tokenizer.encode(t.render(p.messages(), true), false);
        fullIds = tokenizer.encode(t.render(all, false), false);
      }
    }
    if (!startsWith(fullIds, promptIds) && !warnedMismatch) {
      warnedMismatch = true;
      log.warn("the tokenized prompt is not a prefix of the tokenized prompt + completion (a token merges across the"
          + " boundary, or the template renders earlier turns differently); split at the prompt's length as TRL does");
    }
    int[] completionIds = Arrays.copyOfRange(fullIds, Math.min(promptIds.length, fullIds.length), fullIds.length);
    return fit(promptIds, completionIds);
  }

  /** Standard-format shortcut: {@code encode(text(prompt), text(completion))}. */
  public PromptResponse encode(String prompt, String completion) {
    return encode(Content.text(prompt), Content.text(completion));
  }

  /**
   * The prompt's ids for generation, exactly as {@link #encode} builds the prompt part: text with the
   * tokenizer's special tokens; messages rendered with the generation prompt.
   */
  public int[] promptIds(Content prompt) {
    int[] ids = switch (prompt) {
      case Content.Text p -> tokenizer.encode(p.text(), true);
      case Content.Messages p -> tokenizer.encode(requireTemplate().render(p.messages(), true), false);
    };
    if (ids.length == 0) {
      throw new IllegalArgumentException("the prompt has no tokens (empty text, and the tokenizer adds no BOS)");
    }
    return keepPromptEnd(ids);
  }

  /** The text a conversation's prompt renders to (with the generation prompt), for logs and echo to clients. */
  public String renderPrompt(List<ChatMessage> messages) {
    return requireTemplate().render(messages, true);
  }

  private ChatTemplate requireTemplate() {
    return template.orElseThrow(() -> new IllegalArgumentException("the data is conversational (lists of messages) but"
        + " the model's tokenizer files have no chat_template (tokenizer_config.json or chat_template.jinja);"
        + " give the data as text or add a chat template to the model"));
  }

  private PromptResponse fit(int[] promptIds, int[] completionIds) {
    int[] prompt = keepPromptEnd(promptIds);
    if (prompt.length == 0) {
      throw new IllegalArgumentException("the prompt has no tokens (empty text, and the tokenizer adds no BOS):"
          + " the first completion token would have nothing to be predicted from");
    }
    if (maxLength > 0 && prompt.length >= maxLength) {
      throw new IllegalArgumentException("the prompt has " + prompt.length + " tokens, which leaves no room for the"
          + " completion within the max length " + maxLength);
    }
    int[] completion = completionIds;
    if (maxLength > 0 && prompt.length + completion.length > maxLength) {
      completion = Arrays.copyOf(completion, maxLength - prompt.length);
    }
    if (completion.length == 0) {
      throw new IllegalArgumentException("the completion has no tokens (empty text and no EOS token to learn)");
    }
    return new PromptResponse(prompt, completion);
  }

  private int[] keepPromptEnd(int[] ids) {
    if (maxPromptLength <= 0 || ids.length <= maxPromptLength) return ids;
    boolean bosFirst = tokenizer.bosId().isPresent() && ids[0] == tokenizer.bosId().getAsInt();
    int keep = bosFirst ? maxPromptLength - 1 : maxPromptLength;
    int[] out = new int[maxPromptLength];
    int o = 0;
    if (bosFirst) out[o++] = ids[0];
    System.arraycopy(ids, ids.length - keep, out, o, keep);
    return out;
  }

  private static boolean startsWith(int[] a, int[] prefix) {
    if (prefix.length > a.length) return false;
    for (int i = 0; i < prefix.length; i++) if (a[i] != prefix[i]) return false;
    return true;
  }
}
