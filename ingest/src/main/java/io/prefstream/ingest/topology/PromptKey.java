package io.prefstream.ingest.topology;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * The key events are re-partitioned by: {@code <policy id>|<SHA-256 of the prompt, hex>}. Every
 * thumb on one prompt of one policy gets the same key, hence lands in the same partition and the
 * same pairing window; the full hash (not a prefix) makes two prompts sharing a window practically
 * impossible. The prompt text itself stays in the value.
 */
final class PromptKey {
  private PromptKey() {}

  static String of(String policyId, String prompt) {
    return policyId + "|" + sha256Hex(prompt);
  }

  static String sha256Hex(String text) {
    return HexFormat.of().formatHex(sha256(text.getBytes(StandardCharsets.UTF_8)));
  }

  static byte[] sha256(byte[] bytes) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(bytes);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every JDK must provide SHA-256", e);
    }
  }
}
