package io.prefstream.learner.loop;

import io.prefstream.learner.eval.HeldOutEvaluator;
import io.prefstream.learner.metrics.LearnerMetrics;
import io.prefstream.learner.objective.MetricNames;
import io.prefstream.learner.policy.LearnerCheckpoints;
import io.prefstream.learner.policy.PolicySession;
import io.prefstream.learner.trainer.AppliedBatch;
import io.prefstream.learner.trainer.DpoTrainer;
import io.prefstream.learner.trainer.InvalidBatchException;
import io.prefstream.learner.trainer.StepOutcome;
import io.prefstream.learner.trainer.TrainingBatch;
import io.prefstream.model.backend.BackendFailure;
import io.prefstream.model.checkpoint.Checkpoint;
import io.prefstream.model.policy.PolicyCheckpoint;
import io.prefstream.model.policy.TrainerState;
import io.prefstream.model.train.GradMode;
import io.prefstream.schemas.avro.MicroBatch;
import io.prefstream.schemas.avro.PolicyUpdate;
import io.prefstream.schemas.serde.SingleObjectCodec;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The online learner of one policy ({@code prefstream learn}): consumes micro-batches, takes one
 * optimiser step per batch, and every K steps (or after T with the input caught up, or where a
 * control command needs it) writes a checkpoint, evaluates the policy on recent held-out pairs and
 * publishes a {@link PolicyUpdate}. The mechanisms are its parts: {@link InputLog} (the two input
 * consumers and their offsets), {@link ControlHandler}, {@link CheckpointSchedule},
 * {@link UpdatePublisher}, {@link HeldOutFeed} and {@link WriterLock}; this class is the loop that
 * orders them.
 *
 * <p><b>Exactly once.</b> The next offset of every input partition ({@code prefstream.batches} and
 * {@code prefstream.control}) is stored inside the checkpoint, with the weights and the optimiser
 * state. On start the learner loads the newest complete checkpoint and seeks there, so batches
 * applied after the last checkpoint are applied again from the same weights, and nothing else is.
 * The PolicyUpdate is published only after the checkpoint is durable; a checkpoint whose update was
 * lost in a crash is published on the next start. The consumer group
 * {@code prefstream-learner-<policy>} gets the same offsets committed after each checkpoint, for lag
 * monitoring only; it is never read back.
 *
 * <p><b>Replay computes what the crashed run computed</b> (on the CPU backend, bit for bit; tested by
 * {@code ExactlyOnceLearnerTest} and {@code ReplayOrderTest}). What a step computes depends on the
 * batch, the weights, the pinned reference and the current version (the staleness rule compares
 * examples with it); so everything that changes the reference or the version happens at a place the
 * restarted learner reaches in the same state:
 *
 * <ul>
 *   <li>A PinReference takes effect at a checkpoint boundary: the learner checkpoints right after
 *       applying it, with the batches offsets of that moment and the control offset past it, so
 *       every batch before it was trained against the old reference and every batch after it
 *       against the new one, across restarts. (Read while paused, its checkpoint is taken at Resume;
 *       no batch is read in between, so it lands at the same place.) A command is ordered when its
 *       checkpoint is durable: a crash before that leaves it unordered and nothing computed after
 *       it published, and the restarted learner orders it anew, before the batches it replays.
 *   <li>Pause and Resume change when batches are computed, not what. No checkpoint is taken while
 *       paused, so a checkpoint's control offset never falls between a Pause and its Resume and a
 *       restarted learner is paused exactly when the log says so.
 *   <li>Versions change only at checkpoints, and the clock alone never places one between two
 *       batches that were both in the log (see {@link CheckpointSchedule}): a replay, which reads
 *       the batches after its checkpoint back to back, takes no checkpoint the crashed run did not.
 * </ul>
 *
 * <p>Why a forced boundary rather than control commands in the batches partition: the learner is the
 * only writer of its policy's checkpoints and the only reader of its commands, so it can fix a
 * command's place among the batches in its own checkpoint, where the offsets already are; nobody
 * else writes to {@code prefstream.batches} (the ingest's exactly-once output), and the command
 * producers (CLI, Rollout RPCs) keep writing {@code prefstream.control}. When policies are
 * partitioned (control and batches keyed by policy, co-partitioned), a learner instance owns a
 * policy's batches partition and control partition together and keeps both offsets in that
 * policy's checkpoint, as now.
 *
 * <p><b>Failures.</b> A batch that is itself invalid ({@link InvalidBatchException}, found before
 * anything is computed) is read past and recorded as {@value #INVALID} with its reason; a
 * non-finite loss or gradient skips the batch as the trainer reports. Any other failure of a step —
 * above all a {@link BackendFailure} of the compute device, which may come after the host optimiser
 * already stepped — stops the learner with a {@link LearnerStoppedException}: nothing of that step
 * is checkpointed or published, this instance refuses to checkpoint afterwards, and a restart
 * resumes from the last checkpoint (tested by {@code DeviceFailureTest}).
 *
 * <p><b>One writer per policy.</b> Three fences: the {@link WriterLock} on the store; the
 * transactional producer id of the {@link UpdatePublisher}, whose initialisation by a new instance
 * fences an older one's PolicyUpdates; and the checkpoint store, which refuses a version that is
 * not above every existing one.
 *
 * <p>Owned by one thread: {@link #runOnce()} / {@link #run} and {@link #close()} from the same one.
 */
public final class Learner implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(Learner.class);
  static final String OTHER_POLICY = "OTHER_POLICY";
  static final String UNDECODABLE = "UNDECODABLE";
  static final String INVALID = "INVALID";

  private final LearnerConfig config;
  private final PolicySession session;
  private final DpoTrainer trainer;
  private final LearnerMetrics metrics;
  private final LearnerHooks hooks;
  private final SingleObjectCodec<MicroBatch> batchCodec = new SingleObjectCodec<>(MicroBatch.class);
  private final List<AutoCloseable> resources = new ArrayList<>();
  private final InputLog input;
  private final HeldOutFeed heldOut;
  private final UpdatePublisher publisher;
  private final ControlHandler control;
  private final CheckpointSchedule schedule;
  private final List<AppliedBatch> pendingBatches = new ArrayList<>();

  private long parentVersion;
  private long nextVersion;
  private long lastPublished;
  private long examplesSeen;
  private Map<String, Double> lastMetrics;
  /** The chosen replies' reference NLL summed over the steps since the last checkpoint, and their tokens. */
  private double versionRefNll;
  private double versionTokens;
  /** Set when a step failed part-way: the in-memory state must never be checkpointed. */
  private LearnerStoppedException stopped;

  private Learner(LearnerConfig config, PolicySession session, PrometheusRegistry registry, LearnerHooks hooks)
      throws IOException {
    this.config = config;
    this.session = session;
    this.trainer = session.trainer();
    this.hooks = hooks;
    this.metrics = new LearnerMetrics(registry, config.policyId());
    this.control = new ControlHandler(config.policyId(), session, trainer, metrics);
    this.schedule = new CheckpointSchedule(config.checkpointEverySteps(), config.checkpointInterval(), System::nanoTime);
    TrainerState state = session.restoredState().orElse(null);
    parentVersion = session.restoredVersion();
    examplesSeen = state == null ? 0 : state.examplesSeen();
    lastMetrics = state == null ? new LinkedHashMap<>() : new LinkedHashMap<>(state.metrics());
    try {
      resources.add(WriterLock.acquire(session.store().root(), session.policyId()));
      input = add(new InputLog(config, state == null ? Map.of() : state.offsets()));
      heldOut = add(new HeldOutFeed(config));
      publisher = add(new UpdatePublisher(config));
    } catch (IOException | RuntimeException e) {
      closeQuietly(e);
      throw e;
    }
    metrics.version(parentVersion);
  }

  private <T extends AutoCloseable> T add(T resource) {
    resources.add(resource);
    return resource;
  }

  /**
   * Starts the learner of {@code session}'s policy: takes the writer lock, seeks the inputs to the
   * restored checkpoint's offsets (or their beginning), fences older producers, and publishes the
   * restored checkpoint's PolicyUpdate if a crash lost it.
   */
  public static Learner start(LearnerConfig config, PolicySession session, PrometheusRegistry registry,
      LearnerHooks hooks) throws IOException {
    Objects.requireNonNull(config, "config");
    if (!config.policyId().equals(session.policyId())) {
      throw new IllegalArgumentException("learner for policy '" + config.policyId() + "' given a session of '"
          + session.policyId() + "'");
    }
    Learner learner = new Learner(config, session, registry, hooks == null ? LearnerHooks.NONE : hooks);
    try {
      learner.publishRestoredIfLost();
    } catch (IOException | RuntimeException e) {
      learner.close();
      throw e;
    }
    return learner;
  }

  private void publishRestoredIfLost() throws IOException {
    lastPublished = publisher.lastPublishedVersion();
    long highest = session.store().highestVersion(config.policyId()).orElse(0L);
    nextVersion = Math.max(Math.max(highest, lastPublished), parentVersion) + 1;
    if (session.restored().isPresent() && parentVersion > lastPublished) {
      PolicyCheckpoint.Loaded l = session.restored().get();
      log.info("policy {} v{} was checkpointed but its update not published (crash); publishing it now",
          config.policyId(), parentVersion);
      publish(l.checkpoint(), l.state());
    }
  }

  // ---- the loop ------------------------------------------------------------------------------

  /** Runs {@link #runOnce()} until {@code stop} says so; a graceful stop checkpoints pending steps (unless paused). */
  public void run(BooleanSupplier stop) throws IOException {
    while (!stop.getAsBoolean()) {
      runOnce();
    }
    checkpointIfPending();
  }

  /**
   * One turn: applies the control commands read so far, then (unless paused) reads at most one batch
   * and steps on it, then checkpoints if due. Returns the number of batches read (0 or 1).
   *
   * @throws LearnerStoppedException when a step failed part-way (see the class comment)
   */
  public int runOnce() throws IOException {
    requireRunning();
    applyControl(Duration.ZERO);
    if (control.paused()) {
      applyControl(config.pollTimeout());
      return 0;
    }
    int n = 0;
    for (ConsumerRecord<String, byte[]> r : input.pollBatches(config.pollTimeout())) {
      handle(r);
      n++;
    }
    if (schedule.due(input::caughtUp)) checkpoint();
    return n;
  }

  private void applyControl(Duration timeout) throws IOException {
    for (ConsumerRecord<String, byte[]> r : input.pollControl(timeout)) {
      ControlHandler.Effect effect = control.apply(r);
      input.consumed(r);
      switch (effect) {
        case REPINNED -> {
          schedule.referenceChanged();
          // The boundary: offsets of this moment, control past the pin, the new reference id.
          if (!control.paused()) checkpoint();
        }
        case RESUMED -> {
          // A pin read while paused gets its boundary now, at the batch position it was read at.
          if (schedule.referencePending()) checkpoint();
        }
        case PAUSED, NONE -> {}
      }
    }
  }

  private void handle(ConsumerRecord<String, byte[]> r) {
    String where = LearnerClients.key(new TopicPartition(r.topic(), r.partition()));
    if (!config.policyId().equals(r.key())) {
      pass(r, "", OTHER_POLICY);
      return;
    }
    MicroBatch mb;
    try {
      mb = batchCodec.decode(r.value());
    } catch (RuntimeException e) {
      log.warn("{} offset {}: undecodable micro-batch, skipped: {}", where, r.offset(), e.getMessage());
      pass(r, "", UNDECODABLE);
      return;
    }
    if (!config.policyId().equals(mb.getPolicyId())) {
      pass(r, mb.getBatchId(), OTHER_POLICY);
      return;
    }
    TrainingBatch batch;
    try {
      batch = TrainingBatch.of(mb);
    } catch (IllegalArgumentException e) {
      // A conversation no template could render (no messages, a blank role): the ingest refuses
      // these, so only a foreign producer writes them; reading past keeps the learner going.
      log.warn("{} offset {}: micro-batch {} holds an example that is not a valid conversation, skipped: {}", where,
          r.offset(), mb.getBatchId(), e.getMessage());
      pass(r, mb.getBatchId(), INVALID);
      return;
    }
    hooks.beforeStep(batch, trainer);
    long stepsBefore = trainer.stepCount();
    long t0 = System.nanoTime();
    StepOutcome o;
    try {
      o = trainer.step(batch, parentVersion);
    } catch (InvalidBatchException e) {
      // Refused before anything was computed, and it would be refused again after a restart.
      log.warn("policy {}: batch {} ({} offset {}) is invalid and skipped: {}", config.policyId(), batch.id(), where,
          r.offset(), e.getMessage());
      pass(r, batch.id(), INVALID);
      return;
    } catch (RuntimeException e) {
      throw stop(batch, where, r.offset(), stepsBefore + 1, e);
    }
    metrics.step(o, (System.nanoTime() - t0) / 1e9);
    examplesSeen += batch.size();
    input.consumed(r);
    pendingBatches.add(new AppliedBatch(where, r.offset(), batch.id(), o.status().name()));
    if (o.skippedNonFinite()) {
      log.warn("policy {}: batch {} ({} offset {}) skipped: {}", config.policyId(), batch.id(), where, r.offset(),
          o.status());
    }
    if (o.applied()) {
      schedule.stepApplied();
      lastMetrics = new LinkedHashMap<>(o.metrics());
      Double nll = o.metrics().get(MetricNames.REF_NLL_CHOSEN), tokens = o.metrics().get(MetricNames.TOKENS_CHOSEN);
      if (nll != null && tokens != null && Double.isFinite(nll)) {
        versionRefNll += nll * tokens;
        versionTokens += tokens;
      }
      hooks.at(FaultPoint.AFTER_STEP, trainer.stepCount());
    }
  }

  private LearnerStoppedException stop(TrainingBatch batch, String where, long offset, long step, RuntimeException e) {
    String what = e instanceof BackendFailure ? "the compute backend failed" : "the step failed with " + e;
    String from = parentVersion == 0 ? "the base weights" : "v" + parentVersion;
    stopped = new LearnerStoppedException("policy " + config.policyId() + ": " + what + " on batch " + batch.id()
        + " (" + where + " offset " + offset + ", step " + step + "); stopping without a checkpoint: nothing after "
        + from + " is published, and a restart resumes from " + from + " and reads the batches after it again. Cause: "
        + e.getMessage(), e);
    log.error("{}", stopped.getMessage(), e);
    return stopped;
  }

  private void requireRunning() {
    if (stopped != null) {
      throw new IllegalStateException("this learner stopped after a failed step and must be restarted: "
          + stopped.getMessage(), stopped);
    }
  }

  private void pass(ConsumerRecord<String, byte[]> r, String id, String outcome) {
    metrics.batchPassed(outcome);
    input.consumed(r);
    pendingBatches.add(new AppliedBatch(LearnerClients.key(new TopicPartition(r.topic(), r.partition())), r.offset(),
        id, outcome));
  }

  // ---- checkpoint, evaluation, update ------------------------------------------------------

  /**
   * Writes a checkpoint and publishes its update when steps (or a re-pin) are pending; nothing while
   * paused (its offsets would place the learner past the Pause).
   */
  public void checkpointIfPending() throws IOException {
    requireRunning();
    if (!control.paused() && schedule.pending()) checkpoint();
  }

  private void checkpoint() throws IOException {
    requireRunning();
    long version = nextVersion;
    Map<String, Long> offsets = input.offsets();
    String format = trainer.config().gradMode() == GradMode.LORA ? PolicyCheckpoint.LORA : PolicyCheckpoint.FULL;
    if (versionTokens > 0) {
      // Per version, not per last batch: every chosen token the version was trained towards.
      lastMetrics.put(MetricNames.REF_NLL_CHOSEN, versionRefNll / versionTokens);
      lastMetrics.put(MetricNames.TOKENS_CHOSEN, versionTokens);
    } else {
      lastMetrics.remove(MetricNames.REF_NLL_CHOSEN); // no pair trained this version: nothing to report
      lastMetrics.remove(MetricNames.TOKENS_CHOSEN);
    }
    TrainerState state = new TrainerState(trainer.stepCount(), examplesSeen, offsets, trainer.reference().id(),
        parentVersion == 0 ? null : parentVersion, format, lastMetrics);
    Checkpoint cp = LearnerCheckpoints.write(session.store(), config.policyId(), version, trainer, state,
        pendingBatches, config.baseModelName(), config.tokenizerDir());
    nextVersion = version + 1;
    parentVersion = version;
    pendingBatches.clear();
    versionRefNll = 0;
    versionTokens = 0;
    schedule.checkpointed();
    metrics.checkpoint(version);
    input.commitForMonitoring(offsets);
    hooks.at(FaultPoint.AFTER_CHECKPOINT, trainer.stepCount());
    publish(cp, state);
    hooks.at(FaultPoint.AFTER_PUBLISH, trainer.stepCount());
  }

  private void publish(Checkpoint cp, TrainerState state) throws IOException {
    // The version must be loadable where the update points before the update exists.
    URI uri = config.versionStore().publish(cp);
    Map<String, Double> m = publisher.publish(cp, uri, state, heldOut.evaluate(trainer));
    lastPublished = cp.version();
    metrics.published(m);
    log.info("policy {} v{} published (step {}, reference {}, eval accuracy {})", config.policyId(), cp.version(),
        state.step(), state.referenceId(), m.get(HeldOutEvaluator.ACCURACY));
  }

  // ---- state ---------------------------------------------------------------------------------

  public DpoTrainer trainer() {
    return trainer;
  }

  /** The next offset to read of each batches partition (what the next checkpoint would record). */
  public Map<String, Long> positions() {
    return input.batchPositions();
  }

  /** The version of the last checkpoint (0: the base). */
  public long version() {
    return parentVersion;
  }

  /** The newest version of this policy known to be on the updates topic. */
  public long publishedVersion() {
    return lastPublished;
  }

  public boolean paused() {
    return control.paused();
  }

  /** Steps applied since the last checkpoint. */
  public int pendingSteps() {
    return schedule.pendingSteps();
  }

  /** Closes the clients and releases the writer lock; does not checkpoint (see {@link #run}). */
  @Override
  public void close() {
    closeQuietly(null);
  }

  private void closeQuietly(Throwable primary) {
    for (int i = resources.size() - 1; i >= 0; i--) {
      try {
        resources.get(i).close();
      } catch (Exception e) {
        if (primary != null) {
          primary.addSuppressed(e);
        } else {
          log.warn("closing the learner: {}", e.toString());
        }
      }
    }
    resources.clear();
  }
}
