package io.prefstream.deploy.demo.corpus;

import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * The style of any reply text, as a hidden-preference judge sees it: a politeness score (polite
 * markers such as "thank you", "sorry", "happy to help" count +1, brusque ones such as "check the"
 * or "we can't" count −1; a reply with neither made of clipped sentences of under five words on
 * average counts −1 too), the word count, and the {@link SupportCorpus#KEYWORDS} it contains. It
 * reads text, not labels, so it applies to what a model generates as well as to the corpus.
 */
public record ReplyStyle(int politeness, int words, Set<String> keywords) {
  /** Mean words per sentence under which an unmarked reply reads as curt. */
  static final double CLIPPED_SENTENCE_WORDS = 5.0;

  static final List<String> POLITE_MARKERS = List.of("thank", "sorry", "happy to", "glad", "please", "apolog",
      "wonderful", "of course", "anything else", "great question", "my pleasure", "welcome");
  static final List<String> CURT_MARKERS = List.of("check the", "check your", "we can't", "not possible", "read the faq",
      "that's all", "nothing else", "no.", "use the", "too late", "figure", "not our problem", "just ", "don't write");

  /** Words at or under which a reply counts as short. */
  public static final int SHORT_WORDS = 18;

  public static ReplyStyle of(String reply) {
    String t = reply.toLowerCase(Locale.ROOT);
    int score = 0;
    for (String m : POLITE_MARKERS) score += count(t, m);
    for (String m : CURT_MARKERS) score -= count(t, m);
    String trimmed = t.strip();
    int words = trimmed.isEmpty() ? 0 : trimmed.split("\\s+").length;
    if (score == 0 && words > 0) {
      long sentences = trimmed.split("[.!?]+(\\s+|$)").length;
      if ((double) words / Math.max(1, sentences) < CLIPPED_SENTENCE_WORDS) score = -1;
    }
    Set<String> kw = new LinkedHashSet<>();
    for (String k : SupportCorpus.KEYWORDS) if (t.contains(k)) kw.add(k);
    return new ReplyStyle(score, words, kw);
  }

  private static int count(String text, String marker) {
    int n = 0;
    for (int i = text.indexOf(marker); i >= 0; i = text.indexOf(marker, i + marker.length())) n++;
    return n;
  }

  /** The tone this style reads as: positive politeness POLITE, negative CURT, else NEUTRAL. */
  public Tone tone() {
    return politeness > 0 ? Tone.POLITE : politeness < 0 ? Tone.CURT : Tone.NEUTRAL;
  }

  public Length length() {
    return words <= SHORT_WORDS ? Length.SHORT : Length.LONG;
  }
}
