package io.prefstream.schemas.registry;

import java.net.URI;
import java.time.Duration;
import java.util.Objects;

/**
 * Where the Confluent-compatible schema registry is and how patiently to talk to it. {@code baseUrl}
 * is the root of the Confluent REST API, e.g. {@code http://localhost:8081} for Confluent or
 * {@code http://localhost:8080/apis/ccompat/v7} for Apicurio. A request is tried at most
 * {@code maxAttempts} times; between tries the client waits {@code initialBackoff}, doubling up to
 * {@code maxBackoff}. Only I/O errors, timeouts, 429 and 5xx answers are retried.
 */
public record RegistryConfig(
    URI baseUrl, Duration connectTimeout, Duration requestTimeout, int maxAttempts, Duration initialBackoff,
    Duration maxBackoff) {

  public static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(5);
  public static final Duration DEFAULT_REQUEST_TIMEOUT = Duration.ofSeconds(10);
  public static final int DEFAULT_MAX_ATTEMPTS = 4;
  public static final Duration DEFAULT_INITIAL_BACKOFF = Duration.ofMillis(100);
  public static final Duration DEFAULT_MAX_BACKOFF = Duration.ofSeconds(2);

  public RegistryConfig {
    Objects.requireNonNull(baseUrl, "baseUrl");
    String scheme = baseUrl.getScheme();
    if (!"http".equalsIgnoreCase(scheme) && !"https".equalsIgnoreCase(scheme)) {
      throw new IllegalArgumentException("schema registry URL must be http(s)://host:port[/path], got " + baseUrl);
    }
    requirePositive(connectTimeout, "connectTimeout");
    requirePositive(requestTimeout, "requestTimeout");
    if (maxAttempts < 1) throw new IllegalArgumentException("maxAttempts must be >= 1, got " + maxAttempts);
    Objects.requireNonNull(initialBackoff, "initialBackoff");
    Objects.requireNonNull(maxBackoff, "maxBackoff");
    if (initialBackoff.isNegative() || maxBackoff.compareTo(initialBackoff) < 0) {
      throw new IllegalArgumentException(
          "backoff must satisfy 0 <= initialBackoff <= maxBackoff, got " + initialBackoff + " and " + maxBackoff);
    }
    // Paths are appended to the base, so keep exactly one slash between them.
    String s = baseUrl.toString();
    if (s.endsWith("/")) baseUrl = URI.create(s.substring(0, s.length() - 1));
  }

  private static void requirePositive(Duration d, String name) {
    Objects.requireNonNull(d, name);
    if (d.isNegative() || d.isZero()) throw new IllegalArgumentException(name + " must be positive, got " + d);
  }

  /** The defaults for a registry at {@code baseUrl}. */
  public static RegistryConfig of(String baseUrl) {
    return new RegistryConfig(URI.create(baseUrl), DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT,
        DEFAULT_MAX_ATTEMPTS, DEFAULT_INITIAL_BACKOFF, DEFAULT_MAX_BACKOFF);
  }

  public RegistryConfig withTimeouts(Duration connect, Duration request) {
    return new RegistryConfig(baseUrl, connect, request, maxAttempts, initialBackoff, maxBackoff);
  }

  public RegistryConfig withRetries(int attempts, Duration initial, Duration max) {
    return new RegistryConfig(baseUrl, connectTimeout, requestTimeout, attempts, initial, max);
  }
}
