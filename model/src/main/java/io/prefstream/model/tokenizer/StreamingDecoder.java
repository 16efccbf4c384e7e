package io.prefstream.model.tokenizer;

import java.util.Arrays;

/**
 * Turns generated ids into text one token at a time. A character may span several byte-level
 * tokens, and a decoder may change earlier text when a token arrives (e.g. a leading space), so each
 * step decodes a short window of recent ids and emits only the part that is complete: text ending in
 * U+FFFD (an unfinished UTF-8 sequence) is held back until the next token completes it. Concatenating
 * everything {@link #push} and {@link #finish} return gives {@code decode(allIds)}.
 */
public final class StreamingDecoder {
  private final Tokenizer tokenizer;
  private int[] ids = new int[16];
  private int size;
  private int prefixOffset;
  private int readOffset;
  private final StringBuilder emitted = new StringBuilder();

  StreamingDecoder(Tokenizer tokenizer) {
    this.tokenizer = tokenizer;
  }

  /** Adds one id; returns the text it completes (possibly empty). */
  public String push(int id) {
    if (size == ids.length) ids = Arrays.copyOf(ids, size * 2);
    ids[size++] = id;
    String prefix = tokenizer.decode(Arrays.copyOfRange(ids, prefixOffset, readOffset), false);
    String text = tokenizer.decode(Arrays.copyOfRange(ids, prefixOffset, size), false);
    if (text.length() > prefix.length() && !text.endsWith("\uFFFD") && text.startsWith(prefix)) {
      String out = text.substring(prefix.length());
      prefixOffset = readOffset;
      readOffset = size;
      emitted.append(out);
      return out;
    }
    return "";
  }

  /** Whatever is still held back (an unfinished character decodes to U+FFFD). */
  public String finish() {
    String prefix = tokenizer.decode(Arrays.copyOfRange(ids, prefixOffset, readOffset), false);
    String text = tokenizer.decode(Arrays.copyOfRange(ids, prefixOffset, size), false);
    String out = text.startsWith(prefix) ? text.substring(prefix.length()) : "";
    prefixOffset = readOffset = size;
    emitted.append(out);
    return out;
  }

  /** Everything emitted so far. */
  public String text() {
    return emitted.toString();
  }
}
