package io.prefstream.serving.grpc;

import io.prefstream.serving.feedback.RecentResponses;
import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;

/**
 * The gRPC server's settings (the {@code serve} command builds it from flags, env and file).
 *
 * @param host               address to listen on
 * @param port               TCP port (0 picks a free one)
 * @param maxConcurrent      generation/scoring requests running at once; more are refused with RESOURCE_EXHAUSTED
 * @param maxPromptChars     longest prompt (and Score response) in characters
 * @param maxNewTokens       largest {@code sampling.max_new_tokens} accepted
 * @param defaultMaxNewTokens used when a request leaves {@code max_new_tokens} at 0
 * @param maxScoreResponses  most responses one Score call may rank
 * @param defaultBeta        β of the implicit reward when a Score request gives none
 * @param adminToken         bearer token the Rollout service requires; empty: Rollout is refused (UNAUTHENTICATED)
 * @param tlsCert            PEM certificate chain; with {@code tlsKey} the server speaks TLS only
 * @param tlsKey             PEM PKCS#8 private key
 * @param responseMemory     how many recent responses (and for how long) feedback may name by response id
 * @param fluencySampleRate  share of served replies scored under their pinned reference (the served-reply NLL metrics; 0 = none)
 */
public record ServingConfig(String host, int port, int maxConcurrent, int maxPromptChars, int maxNewTokens,
    int defaultMaxNewTokens, int maxScoreResponses, double defaultBeta, Optional<String> adminToken,
    Optional<Path> tlsCert, Optional<Path> tlsKey, RecentResponses.Limits responseMemory, double fluencySampleRate) {
  public static final int DEFAULT_PORT = 50051;
  /** The share of served replies scored under their reference by default (the fluency guard's sample). */
  public static final double DEFAULT_FLUENCY_SAMPLE_RATE = 0.05;

  public ServingConfig {
    Objects.requireNonNull(host, "host");
    Objects.requireNonNull(responseMemory, "responseMemory");
    if (port < 0 || port > 65_535) throw new IllegalArgumentException("port must be in [0, 65535], got " + port);
    if (maxConcurrent < 1) throw new IllegalArgumentException("max concurrent requests must be >= 1, got " + maxConcurrent);
    if (maxPromptChars < 1) throw new IllegalArgumentException("max prompt chars must be >= 1, got " + maxPromptChars);
    if (maxNewTokens < 1) throw new IllegalArgumentException("max new tokens must be >= 1, got " + maxNewTokens);
    if (defaultMaxNewTokens < 1 || defaultMaxNewTokens > maxNewTokens) {
      throw new IllegalArgumentException("default max new tokens must be in [1, " + maxNewTokens + "], got " + defaultMaxNewTokens);
    }
    if (maxScoreResponses < 1) throw new IllegalArgumentException("max score responses must be >= 1, got " + maxScoreResponses);
    if (!(defaultBeta > 0) || Double.isInfinite(defaultBeta)) {
      throw new IllegalArgumentException("beta must be a finite number > 0, got " + defaultBeta);
    }
    if (!(fluencySampleRate >= 0 && fluencySampleRate <= 1)) {
      throw new IllegalArgumentException("fluency sample rate must be in [0, 1], got " + fluencySampleRate);
    }
    adminToken = adminToken.filter(t -> !t.isBlank());
    if (tlsCert.isPresent() != tlsKey.isPresent()) {
      throw new IllegalArgumentException("TLS needs both a certificate file and a key file (got only the "
          + (tlsCert.isPresent() ? "certificate" : "key") + ")");
    }
  }

  /** With the default fluency sample rate ({@value #DEFAULT_FLUENCY_SAMPLE_RATE}). */
  public ServingConfig(String host, int port, int maxConcurrent, int maxPromptChars, int maxNewTokens,
      int defaultMaxNewTokens, int maxScoreResponses, double defaultBeta, Optional<String> adminToken,
      Optional<Path> tlsCert, Optional<Path> tlsKey, RecentResponses.Limits responseMemory) {
    this(host, port, maxConcurrent, maxPromptChars, maxNewTokens, defaultMaxNewTokens, maxScoreResponses, defaultBeta,
        adminToken, tlsCert, tlsKey, responseMemory, DEFAULT_FLUENCY_SAMPLE_RATE);
  }

  /** With the default response memory ({@link RecentResponses.Limits#defaults()}). */
  public ServingConfig(String host, int port, int maxConcurrent, int maxPromptChars, int maxNewTokens,
      int defaultMaxNewTokens, int maxScoreResponses, double defaultBeta, Optional<String> adminToken,
      Optional<Path> tlsCert, Optional<Path> tlsKey) {
    this(host, port, maxConcurrent, maxPromptChars, maxNewTokens, defaultMaxNewTokens, maxScoreResponses, defaultBeta,
        adminToken, tlsCert, tlsKey, RecentResponses.Limits.defaults());
  }

  /**
   * Port 50051 on all interfaces, 16 concurrent requests, 64 new tokens by default (512 at most), β 0.1, no TLS,
   * the last 10,000 responses nameable by id for an hour.
   */
  public static ServingConfig defaults() {
    return new ServingConfig("0.0.0.0", DEFAULT_PORT, 80, 16_384, 512, 64, 16, 0.1, Optional.empty(), Optional.empty(),
        Optional.empty());
  }

  public ServingConfig withPort(int p) {
    return new ServingConfig(host, p, maxConcurrent, maxPromptChars, maxNewTokens, defaultMaxNewTokens, maxScoreResponses,
        defaultBeta, adminToken, tlsCert, tlsKey, responseMemory, fluencySampleRate);
  }

  public ServingConfig withHost(String h) {
    return new ServingConfig(h, port, maxConcurrent, maxPromptChars, maxNewTokens, defaultMaxNewTokens, maxScoreResponses,
        defaultBeta, adminToken, tlsCert, tlsKey, responseMemory, fluencySampleRate);
  }

  public ServingConfig withMaxConcurrent(int n) {
    return new ServingConfig(host, port, n, maxPromptChars, maxNewTokens, defaultMaxNewTokens, maxScoreResponses,
        defaultBeta, adminToken, tlsCert, tlsKey, responseMemory, fluencySampleRate);
  }

  public ServingConfig withAdminToken(String token) {
    return new ServingConfig(host, port, maxConcurrent, maxPromptChars, maxNewTokens, defaultMaxNewTokens, maxScoreResponses,
        defaultBeta, Optional.ofNullable(token), tlsCert, tlsKey, responseMemory, fluencySampleRate);
  }

  public ServingConfig withTls(Path cert, Path key) {
    return new ServingConfig(host, port, maxConcurrent, maxPromptChars, maxNewTokens, defaultMaxNewTokens, maxScoreResponses,
        defaultBeta, adminToken, Optional.ofNullable(cert), Optional.ofNullable(key), responseMemory, fluencySampleRate);
  }

  public ServingConfig withLimits(int promptChars, int newTokens, int defaultNewTokens, int scoreResponses) {
    return new ServingConfig(host, port, maxConcurrent, promptChars, newTokens, defaultNewTokens, scoreResponses,
        defaultBeta, adminToken, tlsCert, tlsKey, responseMemory, fluencySampleRate);
  }

  public ServingConfig withDefaultBeta(double beta) {
    return new ServingConfig(host, port, maxConcurrent, maxPromptChars, maxNewTokens, defaultMaxNewTokens, maxScoreResponses,
        beta, adminToken, tlsCert, tlsKey, responseMemory, fluencySampleRate);
  }

  public ServingConfig withResponseMemory(RecentResponses.Limits limits) {
    return new ServingConfig(host, port, maxConcurrent, maxPromptChars, maxNewTokens, defaultMaxNewTokens, maxScoreResponses,
        defaultBeta, adminToken, tlsCert, tlsKey, limits, fluencySampleRate);
  }

  /** The share of served replies scored under their pinned reference for the fluency metrics (0 = none). */
  public ServingConfig withFluencySampleRate(double rate) {
    return new ServingConfig(host, port, maxConcurrent, maxPromptChars, maxNewTokens, defaultMaxNewTokens, maxScoreResponses,
        defaultBeta, adminToken, tlsCert, tlsKey, responseMemory, rate);
  }
}
