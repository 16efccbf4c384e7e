package io.prefstream.deploy.demo;

import io.prefstream.deploy.demo.corpus.ReplyStyle;
import java.util.Locale;

/**
 * The hidden judge of the demo's simulated users: a fixed yes/no rule on a reply's text ({@link
 * #likes}). Of two replies a user prefers the one it likes; it has no finer scale on purpose: a
 * graded score ("more polite is better") is what a policy games, e.g. by stacking "Thank you!"
 * five times. The model never sees the rule, only the thumbs and choices it produces, so a rising
 * liked-reply rate shows that the loop learned it from feedback. Parse one with {@link #parse}
 * ({@code concise}, {@code polite}, {@code keyword:WORD}).
 */
public sealed interface PreferenceProfile permits PreferenceProfile.Concise, PreferenceProfile.Polite,
    PreferenceProfile.Keyword {

  /** Whether a user with this profile gives the reply a thumb up. */
  boolean likes(String reply);

  /** The profile as {@code --preference} names it. */
  String label();

  /** Likes replies of at most {@code maxWords} words. */
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
    public String label() {
      return "concise";
    }
  }

  /**
   * Likes replies that read as polite ({@link ReplyStyle#politeness()} above zero: thanks, apologies,
   * offers of help outweigh brusque phrases).
   */
  record Polite() implements PreferenceProfile {
    @Override
    public boolean likes(String reply) {
      return ReplyStyle.of(reply).politeness() > 0;
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
