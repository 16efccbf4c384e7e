package io.prefstream.bench.chaos;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * What one soak run does: how long users run ({@code duration}), the seed of the kill schedule and
 * of the users' choices, how many users, the mean time between kills and between broker restarts,
 * where run data goes, the base model, and how a component is launched ({@code java} +
 * {@code jvmFlags} + {@code -cp classpath} + the CLI's main class).
 */
record ChaosSettings(
    Duration duration,
    long seed,
    int users,
    Duration meanKillInterval,
    Duration brokerRestartInterval,
    Path workDir,
    Path model,
    Path javaHome,
    List<String> jvmFlags,
    String classpath,
    Duration drainTimeout) {

  /** The CLI every component is started with, as {@code ./prefstream} starts it. */
  static final String MAIN = "io.prefstream.deploy.cli.Main";

  /** Learner training settings, passed as flags to {@code prefstream learn} and used by the replay check. */
  static final int MAX_LENGTH = 96;
  static final int MAX_PROMPT_LENGTH = 64;
  static final int CHECKPOINT_EVERY = 4;
}
