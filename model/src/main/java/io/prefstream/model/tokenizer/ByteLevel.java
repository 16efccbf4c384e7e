package io.prefstream.model.tokenizer;

/**
 * GPT-2's byte-to-character table, which byte-level BPE vocabularies are written in: printable
 * Latin-1 bytes stand for themselves and the rest (controls, space, 0x7F-0xA0, 0xAD) are moved to
 * U+0100 onwards, so that every byte is one visible character (space becomes 'Ġ').
 */
public final class ByteLevel {
  private static final char[] BYTE_TO_CHAR = new char[256];

  static {
    int next = 256;
    for (int b = 0; b < 256; b++) {
      boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      BYTE_TO_CHAR[b] = printable ? (char) b : (char) next++;
    }
  }

  private ByteLevel() {}

  /** The vocabulary character that stands for byte {@code b} (0-255). */
  public static char charOf(int b) {
    return BYTE_TO_CHAR[b & 0xFF];
  }

  /** The vocabulary spelling of a byte string. */
  public static String encode(byte[] bytes) {
    StringBuilder sb = new StringBuilder(bytes.length);
    for (byte b : bytes) sb.append(charOf(b));
    return sb.toString();
  }
}
