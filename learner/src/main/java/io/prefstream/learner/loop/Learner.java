package io.prefstream.learner.loop;

import io.prefstream.learner.eval.HeldOutEvaluator;
import io.prefstream.learner.metrics.LearnerMetrics;
import io.prefstream.learner.policy.LearnerCheckpoints;
import io.prefstream.learner.policy.PolicySession;
import io.prefstream.learner.reference.PinnedReference;
import io.prefstream.learner.trainer.AppliedBatch;
import io.prefstream.learner.trainer.DpoTrainer;
import io.prefstream.learner.trainer.StepOutcome;
import io.prefstream.learner.trainer.TrainingBatch;
import io.prefstream.model.checkpoint.Checkpoint;
import io.prefstream.model.policy.PolicyCheckpoint;
import io.prefstream.model.policy.TrainerState;
import io.prefstream.model.train.GradMode;
import io.prefstream.schemas.avro.CheckpointFormat;
import io.prefstream.schemas.avro.ControlCommand;
import io.prefstream.schemas.avro.MicroBatch;
import io.prefstream.schemas.avro.Pause;
import io.prefstream.schemas.avro.PinReference;
import io.prefstream.schemas.avro.PolicyUpdate;
import io.prefstream.schemas.avro.Resume;
import io.prefstream.schemas.serde.SingleObjectCodec;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The online learner of one policy ({@code prefstream learn}): consumes micro-batches, takes one
 * optimiser step per batch, and every K steps or T seconds writes a checkpoint, evaluates the policy
 * on recent held-out pairs and publishes a {@link PolicyUpdate}.
 *
 * <p><b>Exactly once.</b> The next offset of every input partition ({@code prefstream.batches} and
 * {@code prefstream.control}) is stored inside the checkpoint, with the weights and the optimiser
 * state. On start the learner loads the newest complete checkpoint and seeks there, so batches
 * applied after the last checkpoint are applied again from the same weights, and nothing else is;
 * on the CPU backend the result is bit for bit the same as without the crash. The PolicyUpdate is
 * published only after the checkpoint is durable; a checkpoint whose update was lost in a crash is
 * published on the next start (the updates topic is scanned for the newest version of the policy).
 * The consumer group {@code prefstream-learner-<policy>} gets the same offsets committed after each
 * checkpoint, for lag monitoring only; it is never read back.
 *
 * <p><b>One writer per policy.</b> Three fences: an exclusive lock on
 * {@code <store>/<policy>/.learner.lock} (held while running; a second learner on the same store
 * refuses to start); the transactional producer id {@code prefstream-learner-<policy>}, whose
 * initialisation by a new instance fences an older one's PolicyUpdates; and the checkpoint store,
 * which refuses a version that is not above every existing one.
 *
 * <p><b>Control.</b> {@code prefstream.control} commands for this policy are applied between batches:
 * Pause (no steps, no checkpoints until Resume), Resume, PinReference (re-pins the reference to a
 * version of this policy or to the base; the next checkpoint and PolicyUpdate record the new
 * reference id, and a re-pin alone makes a checkpoint due).
 *
 * <p>Owned by one thread: {@link #runOnce()} / {@link #run} and {@link #close()} from the same one.
 */
public final class Learner implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(Learner.class);
  static final String OTHER_POLICY = "OTHER_POLICY";
  static final String UNDECODABLE = "UNDECODABLE";
  static final String FAILED = "FAILED";

  private final LearnerConfig config;
  private final PolicySession session;
  private final DpoTrainer trainer;
  private final LearnerMetrics metrics;
  private final LearnerHooks hooks;
  private final SingleObjectCodec<MicroBatch> batchCodec = new SingleObjectCodec<>(MicroBatch.class);
  private final SingleObjectCodec<ControlCommand> controlCodec = new SingleObjectCodec<>(ControlCommand.class);
  private final SingleObjectCodec<PolicyUpdate> updateCodec = new SingleObjectCodec<>(PolicyUpdate.class);
  private final List<AutoCloseable> resources = new ArrayList<>();
  private final KafkaConsumer<String, byte[]> batches;
  private final KafkaConsumer<String, byte[]> control;
  private final KafkaConsumer<String, byte[]> eval;
  private final KafkaProducer<String, byte[]> producer;
  private final Map<TopicPartition, Long> nextOffsets = new LinkedHashMap<>();
  private final List<AppliedBatch> pendingBatches = new ArrayList<>();
  private final Deque<TrainingBatch.Pair> evalPairs = new ArrayDeque<>();

  private long parentVersion;
  private long nextVersion;
  private long lastPublished;
  private long examplesSeen;
  private int stepsSinceCheckpoint;
  private boolean referenceChanged;
  private boolean paused;
  private long lastCheckpointNanos = System.nanoTime();
  private Map<String, Double> lastMetrics = new LinkedHashMap<>();

  private Learner(LearnerConfig config, PolicySession session, PrometheusRegistry registry, LearnerHooks hooks)
      throws IOException {
    this.config = config;
    this.session = session;
    this.trainer = session.trainer();
    this.hooks = hooks;
    this.metrics = new LearnerMetrics(registry, config.policyId());
    try {
      resources.add(lock(session));
      batches = consumer(true);
      resources.add(batches);
      control = consumer(false);
      resources.add(control);
      eval = consumer(false);
      resources.add(eval);
      producer = producer();
      resources.add(producer);
      restorePositions();
    } catch (IOException | RuntimeException e) {
      closeQuietly(e);
      throw e;
    }
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

  // ---- start ---------------------------------------------------------------------------------

  private AutoCloseable lock(PolicySession s) throws IOException {
    Path dir = s.store().root().resolve(s.policyId());
    Files.createDirectories(dir);
    FileChannel ch = FileChannel.open(dir.resolve(".learner.lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
    FileLock lock;
    try {
      lock = ch.tryLock();
    } catch (java.nio.channels.OverlappingFileLockException e) {
      lock = null;
    }
    if (lock == null) {
      ch.close();
      throw new IllegalStateException("another learner is writing policy '" + s.policyId() + "' in " + s.store().root()
          + " (its lock file .learner.lock is held); one writer per policy");
    }
    FileLock held = lock;
    return () -> {
      held.release();
      ch.close();
    };
  }

  private Map<String, Object> clientBase() {
    Map<String, Object> p = new HashMap<>();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
    p.putAll(config.clientProperties());
    return p;
  }

  private KafkaConsumer<String, byte[]> consumer(boolean withGroup) {
    Map<String, Object> p = clientBase();
    p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    // One batch per poll: a Pause read between two batches takes effect before the next one.
    p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, withGroup ? 1 : 500);
    if (withGroup) p.put(ConsumerConfig.GROUP_ID_CONFIG, "prefstream-learner-" + config.policyId());
    return new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer());
  }

  private KafkaProducer<String, byte[]> producer() {
    Map<String, Object> p = clientBase();
    p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, config.transactionalId());
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    KafkaProducer<String, byte[]> prod = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
    try {
      prod.initTransactions();
    } catch (KafkaException e) {
      prod.close(Duration.ZERO);
      throw e;
    }
    return prod;
  }

  private List<TopicPartition> partitions(KafkaConsumer<?, ?> c, String topic) {
    List<PartitionInfo> infos = c.partitionsFor(topic, Duration.ofSeconds(30));
    if (infos == null || infos.isEmpty()) {
      throw new IllegalStateException("topic " + topic + " does not exist; create the prefstream topics first");
    }
    return infos.stream().map(i -> new TopicPartition(i.topic(), i.partition()))
        .sorted((a, b) -> Integer.compare(a.partition(), b.partition())).toList();
  }

  private void restorePositions() {
    Map<String, Long> saved = session.restoredState().map(TrainerState::offsets).orElse(Map.of());
    TrainerState state = session.restoredState().orElse(null);
    parentVersion = session.restoredVersion();
    examplesSeen = state == null ? 0 : state.examplesSeen();
    lastMetrics = state == null ? new LinkedHashMap<>() : new LinkedHashMap<>(state.metrics());
    seekSaved(batches, partitions(batches, config.batchesTopic()), saved);
    seekSaved(control, partitions(control, config.controlTopic()), saved);
    List<TopicPartition> evalParts = partitions(eval, config.evalTopic());
    eval.assign(evalParts);
    Map<TopicPartition, Long> begin = eval.beginningOffsets(evalParts);
    Map<TopicPartition, Long> end = eval.endOffsets(evalParts);
    for (TopicPartition tp : evalParts) {
      eval.seek(tp, Math.max(begin.get(tp), end.get(tp) - config.evalLookbackRecords()));
    }
    metrics.version(parentVersion);
  }

  private void seekSaved(KafkaConsumer<String, byte[]> c, List<TopicPartition> tps, Map<String, Long> saved) {
    c.assign(tps);
    Map<TopicPartition, Long> begin = c.beginningOffsets(tps);
    for (TopicPartition tp : tps) {
      Long at = saved.get(key(tp));
      long pos = at == null ? begin.get(tp) : Math.max(at, begin.get(tp));
      if (at != null && at < begin.get(tp)) {
        log.warn("{}: checkpoint offset {} is before the log start {} (retention); batches in between are lost",
            tp, at, begin.get(tp));
      }
      c.seek(tp, pos);
      nextOffsets.put(tp, pos);
    }
  }

  static String key(TopicPartition tp) {
    return tp.topic() + "-" + tp.partition();
  }

  private void publishRestoredIfLost() throws IOException {
    lastPublished = scanLastPublishedVersion();
    long highest = session.store().highestVersion(config.policyId()).orElse(0L);
    nextVersion = Math.max(Math.max(highest, lastPublished), parentVersion) + 1;
    if (session.restored().isPresent() && parentVersion > lastPublished) {
      PolicyCheckpoint.Loaded l = session.restored().get();
      log.info("policy {} v{} was checkpointed but its update not published (crash); publishing it now",
          config.policyId(), parentVersion);
      publish(l.checkpoint(), l.state());
    }
  }

  /** The newest version of this policy on the updates topic (0 when none), scanning back from the end. */
  private long scanLastPublishedVersion() {
    Map<String, Object> p = clientBase();
    p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    long best = 0;
    try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer())) {
      List<TopicPartition> tps = partitions(c, config.updatesTopic());
      c.assign(tps);
      Map<TopicPartition, Long> begin = c.beginningOffsets(tps);
      Map<TopicPartition, Long> end = c.endOffsets(tps);
      for (TopicPartition tp : tps) {
        c.pause(tps.stream().filter(t -> !t.equals(tp)).toList());
        c.resume(List.of(tp));
        long hi = end.get(tp);
        long found = -1;
        while (found < 0 && hi > begin.get(tp)) {
          long lo = Math.max(begin.get(tp), hi - 256);
          c.seek(tp, lo);
          long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
          while (c.position(tp) < hi) {
            if (System.nanoTime() > deadline) {
              throw new IllegalStateException("timed out reading " + tp + " to find the last published version");
            }
            for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(200))) {
              if (r.offset() >= hi || !config.policyId().equals(r.key()) || r.value() == null) continue;
              try {
                PolicyUpdate u = updateCodec.decode(r.value());
                if (config.policyId().equals(u.getPolicyId())) found = Math.max(found, u.getVersion());
              } catch (RuntimeException e) {
                log.warn("{} offset {}: not a PolicyUpdate ({}); ignored", tp, r.offset(), e.getMessage());
              }
            }
          }
          hi = lo;
        }
        best = Math.max(best, found);
      }
    }
    return best;
  }

  // ---- the loop ------------------------------------------------------------------------------

  /** Runs {@link #runOnce()} until {@code stop} says so; a graceful stop checkpoints pending steps. */
  public void run(BooleanSupplier stop) throws IOException {
    while (!stop.getAsBoolean()) {
      runOnce();
    }
    if (!paused) checkpointIfPending();
  }

  /**
   * One turn: reads control commands, then (unless paused) at most one batch and steps on it, then
   * checkpoints if due. Returns the number of batches read (0 or 1).
   */
  public int runOnce() throws IOException {
    pollControl(Duration.ZERO);
    if (paused) {
      pollControl(config.pollTimeout());
      return 0;
    }
    int n = 0;
    for (ConsumerRecord<String, byte[]> r : batches.poll(config.pollTimeout())) {
      handle(r);
      n++;
    }
    if (stepsSinceCheckpoint >= config.checkpointEverySteps()
        || ((stepsSinceCheckpoint > 0 || referenceChanged)
            && System.nanoTime() - lastCheckpointNanos >= config.checkpointInterval().toNanos())) {
      checkpoint();
    }
    return n;
  }

  private void handle(ConsumerRecord<String, byte[]> r) throws IOException {
    TopicPartition tp = new TopicPartition(r.topic(), r.partition());
    String where = key(tp);
    if (!config.policyId().equals(r.key())) {
      pass(tp, r, "", OTHER_POLICY);
      return;
    }
    MicroBatch mb;
    try {
      mb = batchCodec.decode(r.value());
    } catch (RuntimeException e) {
      log.warn("{} offset {}: undecodable micro-batch, skipped: {}", where, r.offset(), e.getMessage());
      pass(tp, r, "", UNDECODABLE);
      return;
    }
    if (!config.policyId().equals(mb.getPolicyId())) {
      pass(tp, r, mb.getBatchId(), OTHER_POLICY);
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
      pass(tp, r, mb.getBatchId(), FAILED);
      return;
    }
    hooks.beforeStep(batch, trainer);
    long t0 = System.nanoTime();
    StepOutcome o;
    try {
      o = trainer.step(batch, parentVersion);
    } catch (IllegalArgumentException | IllegalStateException e) {
      // A batch the model refuses (e.g. a sequence it cannot score) fails before the optimiser
      // touches anything; stopping here would fail again on every restart, so it is read past.
      log.error("policy {}: batch {} ({} offset {}) failed and is skipped", config.policyId(), batch.id(), where,
          r.offset(), e);
      pass(tp, r, batch.id(), FAILED);
      return;
    }
    metrics.step(o, (System.nanoTime() - t0) / 1e9);
    examplesSeen += batch.size();
    nextOffsets.put(tp, r.offset() + 1);
    pendingBatches.add(new AppliedBatch(where, r.offset(), batch.id(), o.status().name()));
    if (o.skippedNonFinite()) {
      log.warn("policy {}: batch {} ({} offset {}) skipped: {}", config.policyId(), batch.id(), where, r.offset(),
          o.status());
    }
    if (o.applied()) {
      stepsSinceCheckpoint++;
      lastMetrics = new LinkedHashMap<>(o.metrics());
      hooks.at(FaultPoint.AFTER_STEP, trainer.stepCount());
    }
  }

  private void pass(TopicPartition tp, ConsumerRecord<String, byte[]> r, String id, String outcome) {
    metrics.batchPassed(outcome);
    nextOffsets.put(tp, r.offset() + 1);
    pendingBatches.add(new AppliedBatch(key(tp), r.offset(), id, outcome));
  }

  // ---- control -------------------------------------------------------------------------------

  private void pollControl(Duration timeout) throws IOException {
    for (ConsumerRecord<String, byte[]> r : control.poll(timeout)) {
      TopicPartition tp = new TopicPartition(r.topic(), r.partition());
      nextOffsets.put(tp, r.offset() + 1);
      if (!config.policyId().equals(r.key()) || r.value() == null) continue;
      ControlCommand cmd;
      try {
        cmd = controlCodec.decode(r.value());
      } catch (RuntimeException e) {
        log.warn("{} offset {}: undecodable control command, ignored: {}", key(tp), r.offset(), e.getMessage());
        metrics.control("unknown", "undecodable");
        continue;
      }
      if (!config.policyId().equals(cmd.getPolicyId())) continue;
      apply(cmd);
    }
  }

  private void apply(ControlCommand cmd) throws IOException {
    Object action = cmd.getAction();
    switch (action) {
      case Pause p -> {
        paused = true;
        metrics.paused(true);
        metrics.control("pause", "applied");
        log.info("policy {} paused by command {}", config.policyId(), cmd.getCommandId());
      }
      case Resume r -> {
        paused = false;
        metrics.paused(false);
        metrics.control("resume", "applied");
        log.info("policy {} resumed by command {}", config.policyId(), cmd.getCommandId());
      }
      case PinReference pin -> pin(cmd, pin.getVersion());
      default -> {
        log.warn("control command {} has an unknown action {}; ignored", cmd.getCommandId(), action);
        metrics.control("unknown", "rejected");
      }
    }
  }

  private void pin(ControlCommand cmd, Long version) throws IOException {
    String id = version == null || version == 0 ? PinnedReference.BASE_ID : PinnedReference.versionId(version);
    if (id.equals(trainer.reference().id())) {
      metrics.control("pin_reference", "unchanged");
      return;
    }
    try {
      PinnedReference ref = session.reference(id);
      trainer.setReference(ref);
      referenceChanged = true;
      metrics.control("pin_reference", "applied");
      log.info("policy {}: reference re-pinned to {} by command {}", config.policyId(), id, cmd.getCommandId());
    } catch (IOException | IllegalArgumentException e) {
      metrics.control("pin_reference", "rejected");
      log.error("policy {}: cannot pin reference {} (command {}): {}", config.policyId(), id, cmd.getCommandId(),
          e.getMessage());
    }
  }

  // ---- checkpoint, evaluation, update ------------------------------------------------------

  /** Writes a checkpoint and publishes its update when steps (or a re-pin) are pending. */
  public void checkpointIfPending() throws IOException {
    if (stepsSinceCheckpoint > 0 || referenceChanged) checkpoint();
  }

  private void checkpoint() throws IOException {
    long version = nextVersion;
    Map<String, Long> offsets = new LinkedHashMap<>();
    nextOffsets.forEach((tp, o) -> offsets.put(key(tp), o));
    String format = trainer.config().gradMode() == GradMode.LORA ? PolicyCheckpoint.LORA : PolicyCheckpoint.FULL;
    TrainerState state = new TrainerState(trainer.stepCount(), examplesSeen, offsets, trainer.reference().id(),
        parentVersion == 0 ? null : parentVersion, format, lastMetrics);
    Checkpoint cp = LearnerCheckpoints.write(session.store(), config.policyId(), version, trainer, state,
        pendingBatches, config.baseModelName(), config.tokenizerDir());
    nextVersion = version + 1;
    parentVersion = version;
    pendingBatches.clear();
    stepsSinceCheckpoint = 0;
    referenceChanged = false;
    lastCheckpointNanos = System.nanoTime();
    metrics.checkpoint(version);
    commitForMonitoring(offsets);
    hooks.at(FaultPoint.AFTER_CHECKPOINT, trainer.stepCount());
    publish(cp, state);
    hooks.at(FaultPoint.AFTER_PUBLISH, trainer.stepCount());
  }

  private void commitForMonitoring(Map<String, Long> offsets) {
    Map<TopicPartition, OffsetAndMetadata> commit = new HashMap<>();
    for (TopicPartition tp : batches.assignment()) {
      Long o = offsets.get(key(tp));
      if (o != null) commit.put(tp, new OffsetAndMetadata(o));
    }
    try {
      batches.commitSync(commit);
    } catch (KafkaException e) {
      // Lag monitoring only: the offsets that count are inside the checkpoint.
      log.warn("could not commit offsets for monitoring: {}", e.getMessage());
    }
  }

  private void publish(Checkpoint cp, TrainerState state) {
    Map<String, Double> m = new LinkedHashMap<>(state.metrics());
    m.entrySet().removeIf(e -> !Double.isFinite(e.getValue()));
    m.putAll(evaluate());
    PolicyUpdate update = PolicyUpdate.newBuilder()
        .setPolicyId(config.policyId())
        .setVersion(cp.version())
        .setParentVersion(state.parentVersion())
        .setReferenceId(state.referenceId())
        .setCheckpointUri(cp.uri().toString())
        .setSha256(cp.manifestSha256())
        .setFormat(CheckpointFormat.valueOf(cp.format()))
        .setStep(state.step())
        .setExamplesSeen(state.examplesSeen())
        .setMetrics(m)
        .setCreatedAt(Instant.now())
        .build();
    producer.beginTransaction();
    try {
      producer.send(new ProducerRecord<>(config.updatesTopic(), config.policyId(), updateCodec.encode(update)));
      producer.commitTransaction();
    } catch (KafkaException e) {
      try {
        producer.abortTransaction();
      } catch (KafkaException abort) {
        e.addSuppressed(abort);
      }
      throw e;
    }
    lastPublished = cp.version();
    metrics.published(m);
    log.info("policy {} v{} published (step {}, reference {}, eval accuracy {})", config.policyId(), cp.version(),
        state.step(), state.referenceId(), m.get(HeldOutEvaluator.ACCURACY));
  }

  /** Reads newly held-out pairs of this policy and scores the most recent ones. */
  private Map<String, Double> evaluate() {
    if (config.evalMaxPairs() == 0) return Map.of();
    Map<TopicPartition, Long> end = eval.endOffsets(eval.assignment());
    long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    while (end.entrySet().stream().anyMatch(e -> eval.position(e.getKey()) < e.getValue())
        && System.nanoTime() < deadline) {
      for (ConsumerRecord<String, byte[]> r : eval.poll(Duration.ofMillis(100))) {
        if (!config.policyId().equals(r.key()) || r.value() == null) continue;
        for (TrainingBatch.Pair p : EvalRecords.pairs(r.value(), config.policyId())) {
          evalPairs.addLast(p);
          while (evalPairs.size() > config.evalMaxPairs()) evalPairs.removeFirst();
        }
      }
    }
    if (evalPairs.isEmpty()) return Map.of();
    return HeldOutEvaluator.evaluate(trainer, List.copyOf(evalPairs));
  }

  // ---- state ---------------------------------------------------------------------------------

  public DpoTrainer trainer() {
    return trainer;
  }

  /** The next offset to read of each batches partition (what the next checkpoint would record). */
  public Map<String, Long> positions() {
    Map<String, Long> out = new LinkedHashMap<>();
    nextOffsets.forEach((tp, o) -> {
      if (tp.topic().equals(config.batchesTopic())) out.put(key(tp), o);
    });
    return out;
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
    return paused;
  }

  /** Steps applied since the last checkpoint. */
  public int pendingSteps() {
    return stepsSinceCheckpoint;
  }

  /** Closes the clients and releases the writer lock; does not checkpoint (see {@link #run}). */
  @Override
  public void close() {
    closeQuietly(null);
  }

  private void closeQuietly(Throwable primary) {
    for (int i = resources.size() - 1; i >= 0; i--) {
      try {
        AutoCloseable r = resources.get(i);
        if (r instanceof KafkaProducer<?, ?> p) {
          p.close(Duration.ofSeconds(5));
        } else if (r instanceof KafkaConsumer<?, ?> c) {
          c.close(Duration.ofSeconds(5));
        } else {
          r.close();
        }
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
