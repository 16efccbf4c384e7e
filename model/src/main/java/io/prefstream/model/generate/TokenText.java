package io.prefstream.model.generate;

import java.util.function.IntFunction;

/**
 * Turns token ids into text, so generation can check stop strings without depending on a
 * particular tokenizer. Decoding the whole list (not piece by piece) keeps multi-byte characters
 * split across tokens intact.
 */
@FunctionalInterface
public interface TokenText {
  String decode(int[] tokens);

  /** Adapts a per-token piece function by concatenating pieces. */
  static TokenText perToken(IntFunction<String> piece) {
    return tokens -> {
      StringBuilder sb = new StringBuilder();
      for (int t : tokens) sb.append(piece.apply(t));
      return sb.toString();
    };
  }
}
