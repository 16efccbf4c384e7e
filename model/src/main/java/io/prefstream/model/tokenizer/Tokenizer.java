package io.prefstream.model.tokenizer;

import java.util.OptionalInt;

/**
 * Text to token ids and back, as the model was trained. {@link #encode(String)} applies the
 * tokenizer's own special-token template (Hugging Face's {@code add_special_tokens=True}); decoding
 * keeps special tokens unless asked to skip them. For streaming output use {@link #streamDecoder()},
 * which holds back bytes of a character split over several tokens.
 */
public interface Tokenizer extends AutoCloseable {
  /** Ids of {@code text}, with the special tokens the tokenizer's post-processor adds. */
  default int[] encode(String text) {
    return encode(text, true);
  }

  /** Ids of {@code text}; {@code addSpecialTokens} false gives the bare pieces (for concatenation). */
  int[] encode(String text, boolean addSpecialTokens);

  /** Text of {@code ids}, special tokens included (as HF's default). */
  default String decode(int[] ids) {
    return decode(ids, false);
  }

  String decode(int[] ids, boolean skipSpecialTokens);

  /** A fresh incremental decoder for one generated sequence. */
  default StreamingDecoder streamDecoder() {
    return new StreamingDecoder(this);
  }

  /** Ids run from 0 to vocabSize() - 1 (the largest id the vocabulary or added tokens use, plus one). */
  int vocabSize();

  OptionalInt bosId();

  OptionalInt eosId();

  OptionalInt padId();

  /** The raw vocabulary entry of {@code id} (e.g. "Ġthe" in a byte-level vocabulary); for debugging. */
  String tokenText(int id);

  /** Whether {@code id} is a special (added, control) token. */
  boolean isSpecial(int id);

  /** The text of the EOS token as the tokenizer files name it (what TRL appends to standard-format completions). */
  default java.util.Optional<String> eosText() {
    return eosId().isPresent() ? java.util.Optional.of(tokenText(eosId().getAsInt())) : java.util.Optional.empty();
  }

  /** The tokenizer files beyond the vocabulary: special-token names and the chat template. */
  default TokenizerConfig files() {
    return TokenizerConfig.none();
  }

  @Override
  default void close() {}
}
