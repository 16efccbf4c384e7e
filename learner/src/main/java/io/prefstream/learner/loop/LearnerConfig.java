package io.prefstream.learner.loop;

import io.prefstream.model.checkpoint.DirectoryVersionStore;
import io.prefstream.model.checkpoint.VersionStore;
import io.prefstream.schemas.topic.Topics;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * The online learner's settings besides the training ones ({@link io.prefstream.learner.trainer.TrainerConfig}):
 * which policy, which cluster and topics, how often to checkpoint + evaluate + publish (every
 * {@code checkpointEverySteps} applied steps, or after {@code checkpointInterval} when at least one
 * step is pending and every batch in the log has been read; see {@link CheckpointSchedule}), how many recent held-out pairs to evaluate on, and the transactional id that
 * fences an older instance of the same policy's learner, and the {@link VersionStore} each version is
 * published through before its PolicyUpdate names it. Built with {@link #builder(String, String)}.
 */
public record LearnerConfig(
    String policyId,
    String bootstrapServers,
    Map<String, Object> clientProperties,
    String batchesTopic,
    String evalTopic,
    String controlTopic,
    String updatesTopic,
    int checkpointEverySteps,
    Duration checkpointInterval,
    int evalMaxPairs,
    int evalLookbackRecords,
    Duration pollTimeout,
    String transactionalId,
    Optional<String> baseModelName,
    Optional<Path> tokenizerDir,
    VersionStore versionStore) {

  public static final int DEFAULT_CHECKPOINT_EVERY_STEPS = 10;
  public static final Duration DEFAULT_CHECKPOINT_INTERVAL = Duration.ofSeconds(30);
  public static final int DEFAULT_EVAL_MAX_PAIRS = 64;
  public static final int DEFAULT_EVAL_LOOKBACK_RECORDS = 64;

  public LearnerConfig {
    Objects.requireNonNull(policyId, "policyId");
    if (bootstrapServers == null || bootstrapServers.isBlank()) {
      throw new IllegalArgumentException("bootstrap servers are missing: expected HOST:PORT[,HOST:PORT...]");
    }
    clientProperties = Map.copyOf(clientProperties);
    Objects.requireNonNull(versionStore, "versionStore");
    if (checkpointEverySteps < 1) {
      throw new IllegalArgumentException("checkpoint every " + checkpointEverySteps + " steps: expected at least 1");
    }
    if (checkpointInterval.isNegative() || checkpointInterval.isZero()) {
      throw new IllegalArgumentException("checkpoint interval " + checkpointInterval + ": expected a positive duration");
    }
    if (evalMaxPairs < 0 || evalLookbackRecords < 0) {
      throw new IllegalArgumentException("eval pairs " + evalMaxPairs + " / lookback " + evalLookbackRecords
          + ": expected numbers >= 0");
    }
  }

  /** The default transactional id of a policy's learner: {@code prefstream-learner-<policy>}. */
  public static String defaultTransactionalId(String policyId) {
    return "prefstream-learner-" + policyId;
  }

  public static Builder builder(String policyId, String bootstrapServers) {
    return new Builder(policyId, bootstrapServers);
  }

  /** Builder; defaults are the documented ones (topics from {@link Topics}). */
  public static final class Builder {
    private final String policyId;
    private final String bootstrapServers;
    private Map<String, Object> clientProperties = new LinkedHashMap<>();
    private String batchesTopic = Topics.BATCHES;
    private String evalTopic = Topics.EVAL;
    private String controlTopic = Topics.CONTROL;
    private String updatesTopic = Topics.POLICY_UPDATES;
    private int checkpointEverySteps = DEFAULT_CHECKPOINT_EVERY_STEPS;
    private Duration checkpointInterval = DEFAULT_CHECKPOINT_INTERVAL;
    private int evalMaxPairs = DEFAULT_EVAL_MAX_PAIRS;
    private int evalLookbackRecords = DEFAULT_EVAL_LOOKBACK_RECORDS;
    private Duration pollTimeout = Duration.ofMillis(200);
    private String transactionalId;
    private Optional<String> baseModelName = Optional.empty();
    private Optional<Path> tokenizerDir = Optional.empty();
    private VersionStore versionStore = new DirectoryVersionStore(Optional.empty());

    private Builder(String policyId, String bootstrapServers) {
      this.policyId = policyId;
      this.bootstrapServers = bootstrapServers;
    }

    public Builder clientProperties(Map<String, ?> v) { clientProperties = new LinkedHashMap<>(v); return this; }
    /** Topic names (tests use their own). */
    public Builder topics(String batches, String eval, String control, String updates) {
      batchesTopic = batches;
      evalTopic = eval;
      controlTopic = control;
      updatesTopic = updates;
      return this;
    }
    public Builder checkpointEverySteps(int v) { checkpointEverySteps = v; return this; }
    public Builder checkpointInterval(Duration v) { checkpointInterval = v; return this; }
    public Builder evalMaxPairs(int v) { evalMaxPairs = v; return this; }
    public Builder evalLookbackRecords(int v) { evalLookbackRecords = v; return this; }
    public Builder pollTimeout(Duration v) { pollTimeout = v; return this; }
    public Builder transactionalId(String v) { transactionalId = v; return this; }
    public Builder baseModelName(String v) { baseModelName = Optional.ofNullable(v); return this; }
    public Builder tokenizerDir(Path v) { tokenizerDir = Optional.ofNullable(v); return this; }
    /** Where published versions go for replicas to load (default: the checkpoint directory itself). */
    public Builder versionStore(VersionStore v) { versionStore = v; return this; }

    public LearnerConfig build() {
      return new LearnerConfig(policyId, bootstrapServers, clientProperties, batchesTopic, evalTopic, controlTopic,
          updatesTopic, checkpointEverySteps, checkpointInterval, evalMaxPairs, evalLookbackRecords, pollTimeout,
          transactionalId == null ? defaultTransactionalId(policyId) : transactionalId, baseModelName, tokenizerDir,
          versionStore);
    }
  }
}
