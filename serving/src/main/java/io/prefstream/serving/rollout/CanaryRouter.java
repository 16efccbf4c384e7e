package io.prefstream.serving.rollout;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * Decides which users see the canary. A user's bucket is the first 8 bytes of SHA-256 of the user
 * id read as a fraction of 2^64: stable across requests, replicas and restarts, so a user does not
 * flip between versions, and spread evenly, so a percent of users is a percent of buckets. Requests
 * without a user id always go to the stable version (they cannot be kept consistent).
 */
public final class CanaryRouter {
  private CanaryRouter() {}

  /** The user's position in [0, 100). */
  public static double bucket(String userId) {
    try {
      byte[] h = MessageDigest.getInstance("SHA-256").digest(userId.getBytes(StandardCharsets.UTF_8));
      long v = 0;
      for (int i = 0; i < 8; i++) v = (v << 8) | (h[i] & 0xFF);
      // Unsigned 64-bit value / 2^64, times 100.
      double unsigned = (v >>> 1) * 2.0 + (v & 1);
      return unsigned / 18446744073709551616.0 * 100.0;
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("the JDK lacks SHA-256", e);
    }
  }

  /** Whether {@code userId} falls in the canary share of {@code percent} (0..100). */
  public static boolean inCanary(String userId, double percent) {
    if (userId == null || userId.isEmpty() || percent <= 0) return false;
    return bucket(userId) < percent;
  }
}
