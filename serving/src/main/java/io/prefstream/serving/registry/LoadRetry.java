package io.prefstream.serving.registry;

import java.time.Duration;
import java.util.Objects;

/**
 * How a replica retries a checkpoint it could not read (not yet visible, a transient I/O error): up
 * to {@code maxAttempts} attempts, waiting {@code initialBackoff} after the first failure and twice
 * as long after each next one, never more than {@code maxBackoff}. A version still unreadable after
 * the last attempt is "unavailable", not refused: the next desired state that names it tries again.
 * Integrity failures (hash, shape, non-finite values) are refused at once and never retried.
 */
public record LoadRetry(int maxAttempts, Duration initialBackoff, Duration maxBackoff) {
  public LoadRetry {
    Objects.requireNonNull(initialBackoff, "initialBackoff");
    Objects.requireNonNull(maxBackoff, "maxBackoff");
    if (maxAttempts < 1) throw new IllegalArgumentException("maxAttempts must be >= 1, got " + maxAttempts);
    if (initialBackoff.isNegative() || maxBackoff.compareTo(initialBackoff) < 0) {
      throw new IllegalArgumentException("need 0 <= initialBackoff <= maxBackoff, got " + initialBackoff + " and " + maxBackoff);
    }
  }

  /** 8 attempts over about 25 s: 0.25 s, 0.5 s, 1 s, … capped at 10 s. */
  public static LoadRetry defaults() {
    return new LoadRetry(8, Duration.ofMillis(250), Duration.ofSeconds(10));
  }

  /** The wait after failed attempt {@code attempt} (1-based) before the next one. */
  public Duration backoffAfter(int attempt) {
    Duration d = initialBackoff;
    for (int i = 1; i < attempt && d.compareTo(maxBackoff) < 0; i++) d = d.multipliedBy(2);
    return d.compareTo(maxBackoff) > 0 ? maxBackoff : d;
  }
}
