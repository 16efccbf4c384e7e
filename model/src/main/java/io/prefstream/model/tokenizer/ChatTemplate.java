package io.prefstream.model.tokenizer;

import java.util.Arrays;
import java.util.List;

/**
 * The project's one chat format, used by every part that turns a user message and a reply into
 * tokens (generate, score, sft, the learner, serving):
 *
 * <pre>
 * [BOS] "User: {message}\nAssistant:" | " {reply}" [EOS]
 * </pre>
 *
 * The bar marks the prompt/response split. The reply starts with its own space so that its first
 * word tokenizes as it does inside running text (byte-level BPE attaches the space to the word), and
 * a model trained on this format ends its reply with EOS. {@link #STOP} guards generation against a
 * model that goes on to invent the next user turn. Messages and replies are stripped of surrounding
 * whitespace; a message must not be blank.
 */
public final class ChatTemplate {
  /** Text before the user's message. */
  public static final String USER_PREFIX = "User: ";
  /** Text between the user's message and the reply (the prompt ends here). */
  public static final String ASSISTANT_PREFIX = "\nAssistant:";
  /** A stop string for generation: the start of another user turn. */
  public static final String STOP = "\nUser:";

  private ChatTemplate() {}

  /** The prompt text for one user message: {@code "User: {message}\nAssistant:"}. */
  public static String promptText(String message) {
    if (message == null || message.isBlank()) throw new IllegalArgumentException("the user message is empty");
    return USER_PREFIX + message.strip() + ASSISTANT_PREFIX;
  }

  /** The response text for one reply: the reply with one leading space (empty reply: empty text). */
  public static String responseText(String reply) {
    String r = reply == null ? "" : reply.strip();
    return r.isEmpty() ? "" : " " + r;
  }

  /** The prompt's ids: BOS (when the tokenizer has one) then the prompt text's pieces. */
  public static int[] promptTokens(Tokenizer tokenizer, String message) {
    int[] text = tokenizer.encode(promptText(message), false);
    if (tokenizer.bosId().isEmpty()) return text;
    int[] out = new int[text.length + 1];
    out[0] = tokenizer.bosId().getAsInt();
    System.arraycopy(text, 0, out, 1, text.length);
    return out;
  }

  /**
   * The reply's ids followed by EOS (when the tokenizer has one): what training and scoring use, so
   * that ending the reply is part of what is learned and scored.
   */
  public static int[] responseTokens(Tokenizer tokenizer, String reply) {
    int[] text = tokenizer.encode(responseText(reply), false);
    if (tokenizer.eosId().isEmpty()) return text;
    int[] out = Arrays.copyOf(text, text.length + 1);
    out[text.length] = tokenizer.eosId().getAsInt();
    return out;
  }

  /** Stop strings for generating a reply with this format. */
  public static List<String> stopStrings() {
    return List.of(STOP);
  }

  /** A generated reply's text as a user sees it: without the leading space the format puts there. */
  public static String replyText(String generated) {
    return generated.strip();
  }
}
