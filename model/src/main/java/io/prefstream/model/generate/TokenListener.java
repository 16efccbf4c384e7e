package io.prefstream.model.generate;

/** Receives each generated token as soon as it is chosen (for streaming responses). */
@FunctionalInterface
public interface TokenListener {
  void onToken(int token);
}
