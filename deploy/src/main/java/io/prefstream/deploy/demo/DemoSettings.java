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
 * @param beta           DPO's β: 1 kept polite and concise replies as well formed as the base model's (0.3 let a
 *                       concise policy break an eighth of its replies) at the same final liked rate, and halved the
 *                       repeated sentences of a content word's policy for 3 points less rise
 *                       (bench/results/2026-12-04-demo-fluency-split.md)
 * @param sftAlpha       weight of the SFT (NLL) term on chosen and liked replies (TRL's rpo_alpha); 1 took 5 to
 *                       10 points off the served-reply NLL rise of polite runs with the same liked rate
 *                       (bench/results/2026-12-04-demo-rpo-fluency.md)
 * @param freezeAfter    when the learner stops (with a final checkpoint, served as the last version) while the
 *                       users go on, so the rest of the run measures a frozen policy (best-of-n alone); zero: never
 * @param topP           nucleus sampling threshold of the users' requests (1: off), beside {@code temperature}
 * @param ktoUndesirableWeight KTO's λ_U, the weight of a thumbs-down against a thumbs-up's 1: for a content word nearly
 *                       every early reply is disliked, and pushing them all down at full weight broke the policy's text
 *                       (bench/results/2026-12-04-demo-kto-weights.md)
 */
public record DemoSettings(Path modelDir, PreferenceProfile preference, int users, Duration duration,
    String bootstrapServers, String host, int port, int metricsPort, Path reportDir, double learningRate, double beta,
    double sftAlpha, int loraRank, int batchSize, int checkpointEverySteps, double temperature, int maxNewTokens,
    double compareShare, long thinkMillis, Duration window, Duration pairingWindow, double evalShare, double gateMargin,
    long seed, int bestOf, Duration freezeAfter, double topP, double ktoUndesirableWeight) {

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
    if (!(temperature > 0 && temperature <= 2)) throw new IllegalArgumentException("temperature must be in (0, 2], got " + temperature);
    if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
    if (!(ktoUndesirableWeight >= 0) || Double.isInfinite(ktoUndesirableWeight)) {
      throw new IllegalArgumentException("KTO undesirable weight must be a finite number >= 0, got " + ktoUndesirableWeight);
    }
  }

  /** Whether the learner stops at {@link #freezeAfter} before the run ends. */
  public boolean freezes() {
    return !freezeAfter.isZero() && freezeAfter.compareTo(duration) < 0;
  }

  /** The tuned defaults for {@code modelDir} and {@code preference}. */
  public static DemoSettings defaults(Path modelDir, PreferenceProfile preference, Path reportDir) {
    return new DemoSettings(modelDir, preference, 8, Duration.ofMinutes(3), null, "127.0.0.1", 50051, 9400, reportDir,
        5e-4, 1.0, 1.0, 8, 16, 4, 1.0, 64, 0.5, 400, Duration.ofSeconds(30), Duration.ofSeconds(2), 0.1, 0.5, 1, 1,
        Duration.ZERO, 1.0, 0.2);
  }

  public DemoSettings withUsers(int n) {
    return with(b -> b.users = n);
  }

  public DemoSettings withDuration(Duration d) {
    return with(b -> b.duration = d);
  }

  public DemoSettings withPorts(int grpcPort, int metrics) {
    return with(b -> {
      b.port = grpcPort;
      b.metricsPort = metrics;
    });
  }

  public DemoSettings withBootstrapServers(String servers) {
    return with(b -> b.bootstrapServers = servers);
  }

  public DemoSettings withWindow(Duration w) {
    return with(b -> b.window = w);
  }

  public DemoSettings withLearning(double lr, double beta, int batch, int checkpointEvery) {
    return with(b -> {
      b.learningRate = lr;
      b.beta = beta;
      b.batchSize = batch;
      b.checkpointEverySteps = checkpointEvery;
    });
  }

  public DemoSettings withSampling(double temp, double compare, long think) {
    return with(b -> {
      b.temperature = temp;
      b.compareShare = compare;
      b.thinkMillis = think;
    });
  }

  /** The users' sampling: temperature and nucleus threshold (1: off). */
  public DemoSettings withSampling(double temp, double nucleus) {
    return with(b -> {
      b.temperature = temp;
      b.topP = nucleus;
    });
  }

  public DemoSettings withSeed(long s) {
    return with(b -> b.seed = s);
  }

  public DemoSettings withBestOf(int n) {
    return with(b -> b.bestOf = n);
  }

  public DemoSettings withSftAlpha(double alpha) {
    return with(b -> b.sftAlpha = alpha);
  }

  public DemoSettings withKtoUndesirableWeight(double w) {
    return with(b -> b.ktoUndesirableWeight = w);
  }

  public DemoSettings withFreezeAfter(Duration d) {
    return with(b -> b.freezeAfter = d);
  }

  /** A copy with some settings changed (validated again): the one place that lists every component. */
  private DemoSettings with(java.util.function.Consumer<Copy> change) {
    Copy c = new Copy(this);
    change.accept(c);
    return new DemoSettings(c.modelDir, c.preference, c.users, c.duration, c.bootstrapServers, c.host, c.port, c.metricsPort,
        c.reportDir, c.learningRate, c.beta, c.sftAlpha, c.loraRank, c.batchSize, c.checkpointEverySteps, c.temperature,
        c.maxNewTokens, c.compareShare, c.thinkMillis, c.window, c.pairingWindow, c.evalShare, c.gateMargin, c.seed, c.bestOf,
        c.freezeAfter, c.topP, c.ktoUndesirableWeight);
  }

  /** The components as fields, for {@link #with}. */
  private static final class Copy {
    Path modelDir, reportDir;
    PreferenceProfile preference;
    int users, port, metricsPort, loraRank, batchSize, checkpointEverySteps, maxNewTokens, bestOf;
    Duration duration, window, pairingWindow, freezeAfter;
    String bootstrapServers, host;
    double learningRate, beta, sftAlpha, temperature, compareShare, evalShare, gateMargin, topP, ktoUndesirableWeight;
    long thinkMillis, seed;

    Copy(DemoSettings s) {
      modelDir = s.modelDir;
      preference = s.preference;
      users = s.users;
      duration = s.duration;
      bootstrapServers = s.bootstrapServers;
      host = s.host;
      port = s.port;
      metricsPort = s.metricsPort;
      reportDir = s.reportDir;
      learningRate = s.learningRate;
      beta = s.beta;
      sftAlpha = s.sftAlpha;
      loraRank = s.loraRank;
      batchSize = s.batchSize;
      checkpointEverySteps = s.checkpointEverySteps;
      temperature = s.temperature;
      maxNewTokens = s.maxNewTokens;
      compareShare = s.compareShare;
      thinkMillis = s.thinkMillis;
      window = s.window;
      pairingWindow = s.pairingWindow;
      evalShare = s.evalShare;
      gateMargin = s.gateMargin;
      seed = s.seed;
      bestOf = s.bestOf;
      freezeAfter = s.freezeAfter;
      topP = s.topP;
      ktoUndesirableWeight = s.ktoUndesirableWeight;
    }
  }
}
