package io.prefstream.deploy.demo;

import io.prefstream.deploy.demo.corpus.ReplyStyle;
import java.util.Locale;

/**
 * The hidden judge of the demo's simulated users: a fixed rule on a reply's text that says whether a
 * user likes it ({@link #likes}) and, to choose between two replies, how much ({@link #score}). The
 * model never sees the rule, only the thumbs and choices it produces, so a rising liked-reply rate
 * shows that the loop learned it from feedback. Parse one with {@link #parse} ({@code concise},
 * {@code polite}, {@code keyword:WORD}).
 */
public sealed interface PreferenceProfile permits PreferenceProfile.Concise, PreferenceProfile.Polite,
    PreferenceProfile.Keyword {

  /** Whether a user with this profile gives the reply a thumb up. */
  boolean likes(String reply);

  /** How much the user likes the reply; of two replies the higher one is chosen (equal: no choice). */
  double score(String reply);

  /** The profile as {@code --preference} names it. */
  String label();

  /**
   * Likes replies of at most {@code maxWords} words; shorter is better.
   */
  record Concise(int maxWords) implements PreferenceProfile {
    /** The demo's cut: about a third of the shipped assistant's replies are this short. */
    public static final int DEFAULT_MAX_WORDS = 12;

    public Concise {
      if (maxWords < 1) throw new IllegalArgumentException("maxWords must be at least 1, got " + maxWords);
    }

    @Override
    public boolean likes(String reply) {
      return ReplyStyle.of(reply).words() <= maxWords;
    }

    @Override
    public double score(String reply) {
      return -ReplyStyle.of(reply).words();
    }

    @Override
    public String label() {
      return "concise";
    }
  }

  /**
   * Likes replies that read as polite ({@link ReplyStyle#politeness()} above zero: thanks, apologies,
   * offers of help outweigh brusque phrases); more polite is better.
   */
  record Polite() implements PreferenceProfile {
    @Override
    public boolean likes(String reply) {
      return ReplyStyle.of(reply).politeness() > 0;
    }

    @Override
    public double score(String reply) {
      return ReplyStyle.of(reply).politeness();
    }

    @Override
    public String label() {
      return "polite";
    }
  }

  /** Likes replies that contain {@code word} (case-insensitive). */
  record Keyword(String word) implements PreferenceProfile {
    public Keyword {
      if (word == null || word.isBlank()) {
        throw new IllegalArgumentException("the keyword is empty; expected keyword:WORD, e.g. keyword:refund");
      }
      word = word.strip().toLowerCase(Locale.ROOT);
    }

    @Override
    public boolean likes(String reply) {
      return reply.toLowerCase(Locale.ROOT).contains(word);
    }

    @Override
    public double score(String reply) {
      return likes(reply) ? 1 : 0;
    }

    @Override
    public String label() {
      return "keyword:" + word;
    }
  }

  /**
   * The profile {@code --preference} names: {@code concise}, {@code polite} or {@code keyword:WORD}
   * (case-insensitive); anything else throws an {@link IllegalArgumentException} that lists them.
   */
  static PreferenceProfile parse(String text) {
    if (text == null || text.isBlank()) throw new IllegalArgumentException(expected("an empty value"));
    String t = text.strip();
    String lower = t.toLowerCase(Locale.ROOT);
    if (lower.equals("concise")) return new Concise(Concise.DEFAULT_MAX_WORDS);
    if (lower.equals("polite")) return new Polite();
    if (lower.startsWith("keyword:")) {
      String word = t.substring("keyword:".length());
      if (word.isBlank()) throw new IllegalArgumentException(expected("'" + t + "' (no word after keyword:)"));
      return new Keyword(word);
    }
    throw new IllegalArgumentException(expected("'" + t + "'"));
  }

  private static String expected(String got) {
    return "unknown preference " + got + "; expected concise, polite or keyword:WORD (e.g. keyword:refund)";
  }
}
