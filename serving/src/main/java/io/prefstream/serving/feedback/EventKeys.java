package io.prefstream.serving.feedback;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * The Kafka key of a preference event on prefstream.events: {@code <policy id>/<prompt hash>}, the
 * hash being the first 16 hex digits of SHA-256 of the prompt's UTF-8 bytes. Keying by prompt puts
 * every thumb on one prompt in one partition, where the ingest pairs them. Anything that publishes
 * events (this server, the demo's simulated users) uses this one function.
 */
public final class EventKeys {
  private EventKeys() {}

  public static String key(String policyId, String prompt) {
    return policyId + "/" + promptHash(prompt);
  }

  /** First 8 bytes of SHA-256(prompt), as 16 lower-case hex digits. */
  public static String promptHash(String prompt) {
    try {
      byte[] h = MessageDigest.getInstance("SHA-256").digest(prompt.getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(h, 0, 8);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("the JDK lacks SHA-256", e);
    }
  }
}
