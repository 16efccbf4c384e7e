package io.prefstream.ingest.topology;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * Decides, deterministically, whether a pair is held out for evaluation: the first 8 bytes of
 * SHA-256 over (prompt, chosen, rejected), read as an unsigned fraction of 2^64, below the share.
 * Hashing the texts rather than event ids means the same preference, voted again later or by
 * another user, always lands on the same side, so evaluation never sees a pair training saw. Each
 * text is length-prefixed so that moving characters between fields changes the hash.
 */
public final class HoldOut {
  private final double share;

  public HoldOut(double share) {
    if (!(share >= 0.0 && share <= 1.0)) throw new IllegalArgumentException("share must lie in [0, 1], got " + share);
    this.share = share;
  }

  /** True when this pair belongs to the evaluation set. */
  public boolean isHeldOut(String prompt, String chosen, String rejected) {
    if (share == 0.0) return false;
    if (share == 1.0) return true;
    return fraction(prompt, chosen, rejected) < share;
  }

  /** The pair's position in [0, 1), uniform over pairs. */
  static double fraction(String prompt, String chosen, String rejected) {
    byte[] p = prompt.getBytes(StandardCharsets.UTF_8);
    byte[] c = chosen.getBytes(StandardCharsets.UTF_8);
    byte[] r = rejected.getBytes(StandardCharsets.UTF_8);
    ByteBuffer buf = ByteBuffer.allocate(12 + p.length + c.length + r.length);
    buf.putInt(p.length).put(p).putInt(c.length).put(c).putInt(r.length).put(r);
    long bits = ByteBuffer.wrap(PromptKey.sha256(buf.array())).getLong();
    // Top 53 bits as a double in [0, 1): exact, and uniform when the hash is.
    return (bits >>> 11) * 0x1.0p-53;
  }
}
