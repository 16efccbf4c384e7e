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

  // Looking a digest up per record costs more than hashing a short prompt; one per thread is safe.
  private static final ThreadLocal<MessageDigest> SHA_256 = ThreadLocal.withInitial(() -> {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every JDK must provide SHA-256", e);
    }
  });

  static byte[] sha256(byte[] bytes) {
    return SHA_256.get().digest(bytes);
  }
}
