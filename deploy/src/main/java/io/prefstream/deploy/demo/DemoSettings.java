package io.prefstream.deploy.demo;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;

/**
 * Everything a demo run needs: the model, the hidden preference, how long and with how many users,
 * where Kafka is (null: an embedded broker), ports, where the report goes, and the learning
 * settings tuned so that the shipped assistant visibly learns the preference within minutes on
 * two CPU cores. {@link #defaults} gives those tuned values.
 *
 * @param window         trailing window of the live liked-reply rate and of the final rate
 * @param gateMargin     AUTO promotion gate margin on eval reward accuracy: the first versions are
 *                       evaluated on a handful of held-out pairs, so a version that scored 1.0 on two
 *                       pairs would otherwise hold back every later one for a minute
 * @param thinkMillis    pause of each user between turns, leaving CPU for the learner
 * @param bestOf         best-of-n for every reply the users get (1: off): the server samples this many
 *                       and returns the one with the highest implicit reward
 * @param sftAlpha       weight of the SFT (NLL) term on chosen and liked replies (TRL's rpo_alpha); 1 took 5 to
 *                       10 points off the served-reply NLL rise of polite runs with the same liked rate
 *                       (bench/results/2026-12-04-demo-rpo-fluency.md)
 * @param freezeAfter    when the learner stops (with a final checkpoint, served as the last version) while the
 *                       users go on, so the rest of the run measures a frozen policy (best-of-n alone); zero: never
 */
public record DemoSettings(Path modelDir, PreferenceProfile preference, int users, Duration duration,
    String bootstrapServers, String host, int port, int metricsPort, Path reportDir, double learningRate, double beta,
    double sftAlpha, int loraRank, int batchSize, int checkpointEverySteps, double temperature, int maxNewTokens, double compareShare,
    long thinkMillis, Duration window, Duration pairingWindow, double evalShare, double gateMargin, long seed, int bestOf,
    Duration freezeAfter) {

  public DemoSettings {
    Objects.requireNonNull(modelDir, "modelDir");
    Objects.requireNonNull(preference, "preference");
    Objects.requireNonNull(duration, "duration");
    Objects.requireNonNull(reportDir, "reportDir");
    Objects.requireNonNull(window, "window");
    Objects.requireNonNull(pairingWindow, "pairingWindow");
    if (users < 1) throw new IllegalArgumentException("users must be at least 1, got " + users);
    if (duration.isNegative() || duration.isZero()) {
      throw new IllegalArgumentException("duration must be positive, got " + duration);
    }
    if (port < 0 || port > 65_535) throw new IllegalArgumentException("port must be 0..65535, got " + port);
    if (metricsPort < -1 || metricsPort > 65_535) {
      throw new IllegalArgumentException("metrics port must be -1 (off), 0 (any free port) or 1..65535, got " + metricsPort);
    }
    if (!(learningRate > 0)) throw new IllegalArgumentException("learning rate must be positive, got " + learningRate);
    if (!(beta > 0)) throw new IllegalArgumentException("beta must be positive, got " + beta);
    if (!(sftAlpha >= 0) || Double.isInfinite(sftAlpha)) {
      throw new IllegalArgumentException("SFT alpha must be a finite number >= 0 (0 = off), got " + sftAlpha);
    }
    if (batchSize < 1) throw new IllegalArgumentException("batch size must be at least 1, got " + batchSize);
    if (checkpointEverySteps < 1) {
      throw new IllegalArgumentException("checkpoint-every must be at least 1, got " + checkpointEverySteps);
    }
    if (!(evalShare > 0 && evalShare < 1)) throw new IllegalArgumentException("eval share must be in (0, 1), got " + evalShare);
    if (bestOf < 1) throw new IllegalArgumentException("best-of must be at least 1 (1 = off), got " + bestOf);
    Objects.requireNonNull(freezeAfter, "freezeAfter");
    if (freezeAfter.isNegative()) throw new IllegalArgumentException("freeze-after must not be negative, got " + freezeAfter);
  }

  /** Whether the learner stops at {@link #freezeAfter} before the run ends. */
  public boolean freezes() {
    return !freezeAfter.isZero() && freezeAfter.compareTo(duration) < 0;
  }

  /** The tuned defaults for {@code modelDir} and {@code preference}. */
  public static DemoSettings defaults(Path modelDir, PreferenceProfile preference, Path reportDir) {
    return new DemoSettings(modelDir, preference, 8, Duration.ofMinutes(3), null, "127.0.0.1", 50051, 9400, reportDir,
        5e-4, 0.3, 1.0, 8, 16, 4, 1.0, 64, 0.5, 400, Duration.ofSeconds(30), Duration.ofSeconds(2), 0.1, 0.5, 1, 1, Duration.ZERO);
  }

  public DemoSettings withUsers(int n) {
    return new DemoSettings(modelDir, preference, n, duration, bootstrapServers, host, port, metricsPort, reportDir,
        learningRate, beta, sftAlpha, loraRank, batchSize, checkpointEverySteps, temperature, maxNewTokens, compareShare, thinkMillis,
        window, pairingWindow, evalShare, gateMargin, seed, bestOf, freezeAfter);
  }

  public DemoSettings withDuration(Duration d) {
    return new DemoSettings(modelDir, preference, users, d, bootstrapServers, host, port, metricsPort, reportDir,
        learningRate, beta, sftAlpha, loraRank, batchSize, checkpointEverySteps, temperature, maxNewTokens, compareShare, thinkMillis,
        window, pairingWindow, evalShare, gateMargin, seed, bestOf, freezeAfter);
  }

  public DemoSettings withPorts(int grpcPort, int metrics) {
    return new DemoSettings(modelDir, preference, users, duration, bootstrapServers, host, grpcPort, metrics, reportDir,
        learningRate, beta, sftAlpha, loraRank, batchSize, checkpointEverySteps, temperature, maxNewTokens, compareShare, thinkMillis,
        window, pairingWindow, evalShare, gateMargin, seed, bestOf, freezeAfter);
  }

  public DemoSettings withBootstrapServers(String servers) {
    return new DemoSettings(modelDir, preference, users, duration, servers, host, port, metricsPort, reportDir,
        learningRate, beta, sftAlpha, loraRank, batchSize, checkpointEverySteps, temperature, maxNewTokens, compareShare, thinkMillis,
        window, pairingWindow, evalShare, gateMargin, seed, bestOf, freezeAfter);
  }

  public DemoSettings withWindow(Duration w) {
    return new DemoSettings(modelDir, preference, users, duration, bootstrapServers, host, port, metricsPort, reportDir,
        learningRate, beta, sftAlpha, loraRank, batchSize, checkpointEverySteps, temperature, maxNewTokens, compareShare, thinkMillis,
        w, pairingWindow, evalShare, gateMargin, seed, bestOf, freezeAfter);
  }

  public DemoSettings withLearning(double lr, double b, int batch, int checkpointEvery) {
    return new DemoSettings(modelDir, preference, users, duration, bootstrapServers, host, port, metricsPort, reportDir,
        lr, b, sftAlpha, loraRank, batch, checkpointEvery, temperature, maxNewTokens, compareShare, thinkMillis, window,
        pairingWindow, evalShare, gateMargin, seed, bestOf, freezeAfter);
  }

  public DemoSettings withSampling(double temp, double compare, long think) {
    return new DemoSettings(modelDir, preference, users, duration, bootstrapServers, host, port, metricsPort, reportDir,
        learningRate, beta, sftAlpha, loraRank, batchSize, checkpointEverySteps, temp, maxNewTokens, compare, think, window,
        pairingWindow, evalShare, gateMargin, seed, bestOf, freezeAfter);
  }

  public DemoSettings withSeed(long s) {
    return new DemoSettings(modelDir, preference, users, duration, bootstrapServers, host, port, metricsPort, reportDir,
        learningRate, beta, sftAlpha, loraRank, batchSize, checkpointEverySteps, temperature, maxNewTokens, compareShare, thinkMillis,
        window, pairingWindow, evalShare, gateMargin, s, bestOf, freezeAfter);
  }

  public DemoSettings withBestOf(int n) {
    return new DemoSettings(modelDir, preference, users, duration, bootstrapServers, host, port, metricsPort, reportDir,
        learningRate, beta, sftAlpha, loraRank, batchSize, checkpointEverySteps, temperature, maxNewTokens, compareShare, thinkMillis,
        window, pairingWindow, evalShare, gateMargin, seed, n, freezeAfter);
  }

  public DemoSettings withSftAlpha(double alpha) {
    return new DemoSettings(modelDir, preference, users, duration, bootstrapServers, host, port, metricsPort, reportDir,
        learningRate, beta, alpha, loraRank, batchSize, checkpointEverySteps, temperature, maxNewTokens, compareShare,
        thinkMillis, window, pairingWindow, evalShare, gateMargin, seed, bestOf, freezeAfter);
  }

  public DemoSettings withFreezeAfter(Duration d) {
    return new DemoSettings(modelDir, preference, users, duration, bootstrapServers, host, port, metricsPort, reportDir,
        learningRate, beta, sftAlpha, loraRank, batchSize, checkpointEverySteps, temperature, maxNewTokens, compareShare, thinkMillis,
        window, pairingWindow, evalShare, gateMargin, seed, bestOf, d);
  }
}
